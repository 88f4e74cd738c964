#include "library/access_watch.h"

#include <boost/json.hpp>
#include <vector>

#include "library/account_keys.h"

namespace hifi {
namespace json = boost::json;
namespace {

// users/, usernames/ and user-tokens/ all begin with it.
constexpr char kPrefix[] = "user";
constexpr std::string_view kUsersPrefix = account_keys::kUsersPrefix;
constexpr std::string_view kUserTokensPrefix = account_keys::kUserTokensPrefix;

// "user-tokens/<user>/<hash>" -> (user, hash); nullopt for other keys.
std::optional<std::pair<std::string, std::string>> token_entry(std::string_view key) {
  if (!key.starts_with(kUserTokensPrefix)) return std::nullopt;
  key.remove_prefix(kUserTokensPrefix.size());
  const auto slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) return std::nullopt;
  return std::pair{std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

std::optional<std::string> user_key(std::string_view key) {
  if (!key.starts_with(kUsersPrefix) || key.size() == kUsersPrefix.size()) return std::nullopt;
  return std::string(key.substr(kUsersPrefix.size()));
}

}  // namespace

std::optional<AccountGrantState> grant_state_from_json(const std::string& record) {
  boost::system::error_code ec;
  auto v = json::parse(record, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  AccountGrantState state;
  if (const auto* d = o.if_contains("disabled"); d && d->is_bool()) state.disabled = d->as_bool();
  if (const auto* e = o.if_contains("sessions_epoch"); e && e->is_number()) {
    state.sessions_epoch = e->to_number<std::uint64_t>();
  }
  return state;
}

AccessWatch::AccessWatch(MetaStore& store) : store_(store) {}

AccessWatch::~AccessWatch() { stop(); }

void AccessWatch::set_listener(Listener listener) { listener_ = std::move(listener); }

Status AccessWatch::start() {
  view_ = std::make_unique<WatchedView>(
      store_, kPrefix, [this](const RangeResult& snapshot) { reset(snapshot); },
      [this](const WatchResponse& response) { apply(response); }, WatchedViewOptions{.name = "accounts"});
  return view_->start();
}

void AccessWatch::stop() {
  if (view_) view_->stop();
}

bool AccessWatch::session_live(const std::string& user_id, const std::string& token_hash) const {
  std::lock_guard lock(mu_);
  return tokens_.contains({user_id, token_hash});
}

std::optional<AccountGrantState> AccessWatch::grant(const std::string& user_id) const {
  std::lock_guard lock(mu_);
  auto it = users_.find(user_id);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

ViewStatus AccessWatch::view_status() const {
  if (!view_) return ViewStatus{};
  return view_->status();
}

bool AccessWatch::stale() const { return !view_ || view_->stale(); }

Status AccessWatch::wait_for_revision(Revision revision, std::chrono::steady_clock::time_point deadline) const {
  if (!view_) return Status(Code::kFailedPrecondition, "the accounts view is not started");
  return view_->wait_for_revision(revision, deadline);
}

void AccessWatch::reset(const RangeResult& snapshot) {
  std::map<std::string, AccountGrantState> users;
  std::set<std::pair<std::string, std::string>> tokens;
  for (const auto& kv : snapshot.kvs) {
    if (auto id = user_key(kv.key)) {
      if (auto state = grant_state_from_json(kv.value)) {
        state->revision = kv.mod_revision;
        users[*id] = *state;
      }
    } else if (auto entry = token_entry(kv.key)) {
      tokens.insert(std::move(*entry));
    }
  }
  std::vector<AccessEnded> ended;
  {
    std::lock_guard lock(mu_);
    // What ended while the watch was not following (nothing on the first
    // load: both sets are empty then).
    for (const auto& [id, before] : users_) {
      auto now = users.find(id);
      if (now == users.end()) {
        ended.push_back({AccessEnded::Why::kDeleted, id, {}});
      } else if (!before.disabled && now->second.disabled) {
        ended.push_back({AccessEnded::Why::kDisabled, id, {}});
      }
    }
    for (const auto& entry : tokens_) {
      if (!tokens.contains(entry)) ended.push_back({AccessEnded::Why::kSignedOut, entry.first, entry.second});
    }
    users_ = std::move(users);
    tokens_ = std::move(tokens);
  }
  if (listener_) {
    for (const auto& e : ended) listener_(e);
  }
}

void AccessWatch::apply(const WatchResponse& response) {
  std::vector<AccessEnded> ended;
  {
    std::lock_guard lock(mu_);
    for (const auto& event : response.events) {
      const bool put = event.type == WatchEvent::Type::kPut;
      if (auto id = user_key(event.kv.key)) {
        if (!put) {
          users_.erase(*id);
          ended.push_back({AccessEnded::Why::kDeleted, *id, {}});
          continue;
        }
        auto state = grant_state_from_json(event.kv.value);
        if (!state) continue;
        state->revision = event.kv.mod_revision;
        auto& known = users_[*id];
        if (state->disabled && !known.disabled) ended.push_back({AccessEnded::Why::kDisabled, *id, {}});
        known = *state;
      } else if (auto entry = token_entry(event.kv.key)) {
        if (put) {
          tokens_.insert(std::move(*entry));
        } else {
          tokens_.erase(*entry);
          ended.push_back({AccessEnded::Why::kSignedOut, entry->first, entry->second});
        }
      }
    }
  }
  if (listener_) {
    for (const auto& e : ended) listener_(e);
  }
}

}  // namespace hifi
