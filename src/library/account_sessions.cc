// AccountService's sessions: logout, the list of a user's sessions and
// their revocation (through the user-tokens/ index), the sweep of expired
// tokens and invites, and the watch that reports ended access and checks
// signed grants (accounts.h).
#include <boost/json.hpp>
#include <chrono>
#include <optional>

#include "library/account_keys.h"
#include "library/accounts.h"

namespace hifi {
namespace json = boost::json;
using namespace account_keys;

std::string session_token_hash(const std::string& token) { return hash_secret(token); }

Status AccountService::start(AccessWatch::Listener on_access_ended) {
  // A token the index does not name would end unnoticed by the watch.
  if (auto s = index_legacy_tokens(); !s) return s;
  watch_ = std::make_unique<AccessWatch>(store_);
  watch_->set_listener(std::move(on_access_ended));
  return watch_->start();
}

void AccountService::stop() {
  if (watch_) watch_->stop();
}

std::optional<ViewStatus> AccountService::view_status() const {
  if (!watch_) return std::nullopt;
  return watch_->view_status();
}

namespace {

Status grant_status(const AccountGrantState& state, std::uint64_t sessions_epoch) {
  if (state.disabled) return unauthenticated("the account is disabled");
  if (state.sessions_epoch != sessions_epoch) {
    return unauthenticated("the account signed out everywhere or changed its password since");
  }
  return Status::ok();
}

}  // namespace

void AccountService::catch_up(Revision revision) const {
  // A view that does not follow in time is stale, and then grants are
  // checked against the store (check_grant_cached says nothing).
  if (watch_) (void)watch_->wait_for_revision(revision, std::chrono::steady_clock::now() + std::chrono::seconds(10));
}

std::optional<Status> AccountService::check_grant_cached(const std::string& user_id,
                                                         std::uint64_t sessions_epoch) const {
  if (!watch_ || watch_->stale()) return std::nullopt;
  auto state = watch_->grant(user_id);
  // An epoch newer than the view's was made after what the view has seen.
  if (!state || (!state->disabled && state->sessions_epoch < sessions_epoch)) return std::nullopt;
  return grant_status(*state, sessions_epoch);
}

Status AccountService::check_grant(const std::string& user_id, std::uint64_t sessions_epoch) {
  if (auto cached = check_grant_cached(user_id, sessions_epoch)) return *cached;
  auto user = load_user(user_id, nullptr, nullptr);
  if (!user) {
    if (user.status().code() == Code::kNotFound) return unauthenticated("the account is gone");
    return user.status();
  }
  return grant_status({user->disabled, user->sessions_epoch}, sessions_epoch);
}

Status AccountService::revoke_other_sessions(const std::string& user_id, const std::string& keep_token) {
  auto bumped = update_user(user_id, [](User& u, std::string&) {
    ++u.sessions_epoch;
    return Status::ok();
  });
  if (!bumped) return bumped.status();
  return revoke_tokens_of(user_id, keep_token);
}

Status AccountService::logout(const std::string& token) {
  const auto hash = hash_secret(token);
  auto kv = store_.get(kTokensPrefix + hash);
  if (!kv) return kv.status().code() == Code::kNotFound ? Status::ok() : kv.status();
  std::vector<Op> ops{Op::del(kv->key)};
  boost::system::error_code ec;
  auto v = json::parse(kv->value, ec);
  if (!ec && v.is_object()) {
    if (const auto* uid = v.as_object().if_contains("user_id"); uid && uid->is_string()) {
      ops.push_back(Op::del(user_token_key(std::string(uid->as_string()), hash)));
    }
  }
  auto r = store_.txn({}, ops);
  forget_session(hash);
  return r ? Status::ok() : r.status();
}

Status AccountService::index_legacy_tokens() {
  if (legacy_tokens_indexed_.load()) return Status::ok();
  constexpr char kMarker[] = "accounts/tokens-indexed";
  if (auto marker = store_.get(kMarker); marker) {
    legacy_tokens_indexed_ = true;
    return Status::ok();
  } else if (marker.status().code() != Code::kNotFound) {
    return marker.status();
  }
  auto r = store_.range(kTokensPrefix);
  if (!r) return r.status();
  std::vector<Op> ops;
  for (const auto& kv : r->kvs) {
    boost::system::error_code ec;
    auto v = json::parse(kv.value, ec);
    if (ec || !v.is_object()) continue;
    const auto* uid = v.as_object().if_contains("user_id");
    if (uid == nullptr || !uid->is_string()) continue;
    ops.push_back(Op::put(user_token_key(std::string(uid->as_string()), kv.key.substr(sizeof(kTokensPrefix) - 1)), ""));
    if (ops.size() == 100) {
      if (auto t = store_.txn({}, ops); !t) return t.status();
      ops.clear();
    }
  }
  ops.push_back(Op::put(kMarker, "1"));
  if (auto t = store_.txn({}, ops); !t) return t.status();
  legacy_tokens_indexed_ = true;
  return Status::ok();
}

Result<AccountService::SweepReport> AccountService::sweep_expired() {
  const auto now = clock_.now_ms();
  SweepReport report;
  // The record's expiry, and its user (tokens), when it has expired.
  struct Expired {
    std::string user_id;
  };
  auto expired = [now](const std::string& value) -> std::optional<Expired> {
    boost::system::error_code ec;
    auto v = json::parse(value, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.as_object();
    const auto* e = o.if_contains("expires_at");
    if (e == nullptr || !e->is_number() || e->to_number<std::int64_t>() > now) return std::nullopt;
    const auto* uid = o.if_contains("user_id");
    return Expired{uid && uid->is_string() ? std::string(uid->as_string()) : std::string()};
  };
  auto tokens = store_.range(kTokensPrefix);
  if (!tokens) return tokens.status();
  for (const auto& kv : tokens->kvs) {
    const auto gone = expired(kv.value);
    if (!gone) continue;
    std::vector<Op> ops{Op::del(kv.key)};
    if (!gone->user_id.empty()) {
      ops.push_back(Op::del(user_token_key(gone->user_id, kv.key.substr(sizeof(kTokensPrefix) - 1))));
    }
    // Only the record as read: a token rewritten meanwhile is left alone.
    auto t = store_.txn({Compare::mod_revision_equals(kv.key, kv.mod_revision)}, ops);
    if (!t) return t.status();
    if (t->succeeded) ++report.tokens;
  }
  auto invites = store_.range(kInvitesPrefix);
  if (!invites) return invites.status();
  for (const auto& kv : invites->kvs) {
    if (!expired(kv.value)) continue;
    auto t = store_.txn({Compare::mod_revision_equals(kv.key, kv.mod_revision)}, {Op::del(kv.key)});
    if (!t) return t.status();
    if (t->succeeded) ++report.invites;
  }
  return report;
}

Result<std::vector<SessionInfo>> AccountService::sessions(const std::string& user_id,
                                                          const std::string& current_token) {
  if (auto s = index_legacy_tokens(); !s) return s;
  const auto prefix = kUserTokensPrefix + user_id + "/";
  auto index = store_.range(prefix);
  if (!index) return index.status();
  const auto current = current_token.empty() ? std::string() : hash_secret(current_token);
  const auto now = clock_.now_ms();
  std::vector<SessionInfo> out;
  for (const auto& entry : index->kvs) {
    const auto hash = entry.key.substr(prefix.size());
    auto kv = store_.get(kTokensPrefix + hash);
    if (!kv) {
      if (kv.status().code() != Code::kNotFound) return kv.status();
      (void)store_.del(entry.key);  // the token went without its index entry
      continue;
    }
    boost::system::error_code ec;
    auto v = json::parse(kv->value, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.as_object();
    auto number = [&](const char* name) {
      const auto* f = o.if_contains(name);
      return f && f->is_number() ? f->to_number<std::int64_t>() : 0;
    };
    auto text = [&](const char* name) {
      const auto* f = o.if_contains(name);
      return f && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    SessionInfo info{hash.substr(0, kSessionIdChars), text("device"), text("address"), number("created_at"),
                     number("last_used_at"), number("expires_at"), hash == current};
    if (info.expires_at <= now) {
      (void)store_.txn({}, {Op::del(kv->key), Op::del(entry.key)});
      continue;
    }
    if (info.last_used_at == 0) info.last_used_at = info.created_at;
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return std::tie(b.last_used_at, b.created_at, a.id) < std::tie(a.last_used_at, a.created_at, b.id);
  });
  return out;
}

Status AccountService::revoke_session(const std::string& user_id, const std::string& session_id) {
  if (session_id.size() != kSessionIdChars) return not_found("no session '" + session_id + "'");
  if (auto s = index_legacy_tokens(); !s) return s;
  const auto prefix = kUserTokensPrefix + user_id + "/" + session_id;
  auto index = store_.range(prefix);
  if (!index) return index.status();
  if (index->kvs.empty()) return not_found("no session '" + session_id + "'");
  std::vector<Op> ops;
  for (const auto& entry : index->kvs) {
    const auto hash = entry.key.substr(sizeof(kUserTokensPrefix) + user_id.size());
    ops.push_back(Op::del(entry.key));
    ops.push_back(Op::del(kTokensPrefix + hash));
    forget_session(hash);
  }
  auto t = store_.txn({}, ops);
  return t ? Status::ok() : t.status();
}

Status AccountService::revoke_tokens_of(const std::string& user_id, const std::string& keep_token) {
  // Through the user's index, not a scan of every token of every user.
  if (auto s = index_legacy_tokens(); !s) return s;
  const auto prefix = kUserTokensPrefix + user_id + "/";
  auto index = store_.range(prefix);
  if (!index) return index.status();
  const auto keep = keep_token.empty() ? std::string() : hash_secret(keep_token);
  std::vector<Op> ops;
  for (const auto& entry : index->kvs) {
    const auto hash = entry.key.substr(prefix.size());
    if (hash == keep) continue;
    ops.push_back(Op::del(entry.key));
    ops.push_back(Op::del(kTokensPrefix + hash));
    forget_session(hash);
    if (ops.size() >= 100) {
      if (auto t = store_.txn({}, ops); !t) return t.status();
      ops.clear();
    }
  }
  if (ops.empty()) return Status::ok();
  auto t = store_.txn({}, ops);
  return t ? Status::ok() : t.status();
}

}  // namespace hifi
