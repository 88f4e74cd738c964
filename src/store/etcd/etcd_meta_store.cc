// The etcd MetaStore backend over etcd's v3 HTTP/JSON gateway.
//
// Wire format: request and response bodies are the JSON form of etcd's
// protobuf messages: bytes (keys, values) are base64, int64 fields are
// strings, and fields holding their zero value (false, 0, PUT) are left out.
// Streaming calls (/v3/watch, /v3/lease/keepalive) answer with a chunked
// body of newline-separated {"result": {...}} objects.
//
// Structure
//  - EtcdClient: the endpoints, a pool of idle keep-alive connections per
//    endpoint, and unary calls with failover. Shared by the store and its
//    watches, so a watch handle may outlive the store.
//  - EtcdWatch: one watch = one streamed POST /v3/watch read by its own
//    thread, which also runs the callback. cancel() aborts the stream and
//    joins that thread (unless called from it, i.e. from the callback).
//  - EtcdMetaStore: translates MetaStore calls into etcd requests, adding
//    and removing the key namespace.
#include "store/etcd/etcd_meta_store.h"

#include <algorithm>
#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "common/base64.h"
#include "store/etcd/etcd_http.h"

namespace hifi {
namespace {

namespace json = boost::json;
using etcd::Endpoint;
using etcd::HttpConnection;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Same bound as the SQLite backend; etcd's own maximum is 9e9 s.
constexpr std::int64_t kMaxLeaseTtlSeconds = 1'000'000'000;
// Idle connections kept per endpoint; more are closed after use.
constexpr std::size_t kMaxIdlePerEndpoint = 16;
// Reconnection back-off of a watch whose member went away.
constexpr auto kWatchRetryMin = 50ms;
constexpr auto kWatchRetryMax = 1000ms;

// --- encoding ----------------------------------------------------------------

// An interval of keys [lo, hi); hi == nullopt means unbounded.
struct KeyRange {
  std::string lo;
  std::optional<std::string> hi;

  bool contains(std::string_view key) const { return key >= lo && (!hi || key < *hi); }
};

// etcd's range_end of "no upper bound" (with a non-empty key).
const std::string kNoEnd(1, '\0');

void set_range(json::object& o, const KeyRange& r) {
  // No stored key is empty, so "" and "\0" start the same range; etcd
  // rejects an empty key.
  o["key"] = base64_encode(r.lo.empty() ? kNoEnd : r.lo);
  o["range_end"] = base64_encode(r.hi ? *r.hi : kNoEnd);
}

std::string i64(std::int64_t v) { return std::to_string(v); }

std::int64_t int_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end()) return 0;
  const json::value& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_string()) {
    const json::string& s = v.get_string();
    std::int64_t out = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && ptr == s.data() + s.size()) return out;
    // Ids are uint64 in some messages; keep the bits.
    std::uint64_t u = 0;
    auto [uptr, uec] = std::from_chars(s.data(), s.data() + s.size(), u);
    if (uec == std::errc() && uptr == s.data() + s.size()) return static_cast<std::int64_t>(u);
  }
  return 0;
}

bool bool_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  return it != o.end() && it->value().is_bool() && it->value().get_bool();
}

std::string string_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

const json::object* object_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_object()) return nullptr;
  return &it->value().get_object();
}

const json::array* array_field(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_array()) return nullptr;
  return &it->value().get_array();
}

bool bytes_field(const json::object& o, std::string_view name, std::string* out) {
  auto it = o.find(name);
  if (it == o.end()) {
    out->clear();
    return true;
  }
  if (!it->value().is_string()) return false;
  auto bytes = base64_decode(it->value().get_string());
  if (!bytes) return false;
  *out = std::move(*bytes);
  return true;
}

Revision header_revision(const json::object& o) {
  const json::object* header = object_field(o, "header");
  return header != nullptr ? int_field(*header, "revision") : 0;
}

Code code_from_grpc(std::int64_t grpc_code) {
  switch (grpc_code) {
    case 3: return Code::kInvalidArgument;
    case 5: return Code::kNotFound;
    case 6: return Code::kAlreadyExists;
    case 7: return Code::kPermissionDenied;
    case 8: return Code::kResourceExhausted;
    case 9: return Code::kFailedPrecondition;
    case 11: return Code::kCompacted;  // "required revision has been compacted"
    case 12: return Code::kUnsupported;
    case 1:   // cancelled
    case 4:   // deadline exceeded: "request timed out"
    case 10:  // aborted
    case 14:  // unavailable: "no leader", "leader changed", "request timed out"
      return Code::kUnavailable;
    case 16: return Code::kUnauthenticated;
    default: return Code::kInternal;
  }
}

// An error answer of the gateway: {"error": "...", "code": N, "message":
// "..."} for unary calls, {"error": {"grpc_code": N, "message": "..."}} on
// a stream.
Status error_status(const Endpoint& ep, unsigned http_status, const json::object* body,
                    std::string_view raw) {
  if (body != nullptr) {
    if (const json::object* e = object_field(*body, "error")) {
      return Status(code_from_grpc(int_field(*e, "grpc_code")),
                    "etcd " + ep.url + ": " + string_field(*e, "message"));
    }
    if (body->contains("code")) {
      std::string message = string_field(*body, "message");
      if (message.empty()) message = string_field(*body, "error");
      return Status(code_from_grpc(int_field(*body, "code")), "etcd " + ep.url + ": " + message);
    }
  }
  const Code code = http_status >= 500 ? Code::kUnavailable : Code::kInternal;
  return Status(code, "etcd " + ep.url + ": HTTP " + std::to_string(http_status) + ": " +
                          std::string(raw.substr(0, 200)));
}

// --- client --------------------------------------------------------------------

class EtcdClient {
 public:
  // kSafe: the request may be sent again to another member when its answer
  // is lost (reads, and writes whose repetition is harmless).
  enum class Retry { kSafe, kUnsafe };

  EtcdClient(std::vector<Endpoint> endpoints, EtcdOptions options)
      : endpoints_(std::move(endpoints)),
        options_(std::move(options)),
        idle_(endpoints_.size()) {}

  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  const EtcdOptions& options() const { return options_; }
  std::size_t preferred() const { return preferred_.load(); }

  // POSTs body to target on the preferred member, failing over to the
  // others. Returns the answer's object (a streamed answer's first result).
  Result<json::object> call(const char* target, const json::object& body, Retry retry) {
    const std::string text = json::serialize(body);
    const std::size_t n = endpoints_.size();
    const std::size_t first = preferred_.load();
    Status last(Code::kUnavailable, "etcd: no endpoint");
    for (std::size_t attempt = 0; attempt < n; ++attempt) {
      const std::size_t i = (first + attempt) % n;
      std::unique_ptr<HttpConnection> conn = take_idle(i);
      if (!conn) {
        conn = std::make_unique<HttpConnection>(endpoints_[i]);
        if (Status s = conn->connect(options_.connect_timeout); !s) {
          last = s;
          continue;
        }
      }
      bool sent = false;
      auto response = conn->post(target, text, options_.request_timeout, &sent);
      if (!response) {
        last = response.status();
        if (sent && retry == Retry::kUnsafe) {
          // Not sent again; but the next requests go to the next member
          // first: one that took a request and did not answer (frozen,
          // its disk stalled, partitioned) would take every write through
          // this node down with it, one request timeout each, until a read
          // happened to fail over.
          if (i == preferred_.load()) prefer((i + 1) % n);
          return Status(Code::kUnavailable,
                        last.message() + " (the request was sent; whether it was applied is unknown)");
        }
        continue;
      }

      json::object parsed;
      bool is_json = false;
      {
        boost::system::error_code ec;
        json::value v = json::parse(response->body, ec);
        if (!ec && v.is_object()) {
          parsed = std::move(v.get_object());
          is_json = true;
        }
      }
      const bool ok = response->status == 200 && is_json && !parsed.contains("error");
      if (ok) prefer(i);  // first: connections are kept only to the member asked first
      if (conn->reusable()) put_idle(i, std::move(conn));
      if (ok) {
        if (const json::object* result = object_field(parsed, "result")) return *result;
        return parsed;
      }
      Status error = error_status(endpoints_[i], response->status, is_json ? &parsed : nullptr,
                                  response->body);
      if (error.code() == Code::kUnavailable && retry == Retry::kSafe) {
        last = error;  // e.g. this member has no leader: ask another
        continue;
      }
      return error;
    }
    return last;
  }

 private:
  struct Idle {
    std::unique_ptr<HttpConnection> conn;
    SteadyClock::time_point since;
  };

  // The connection used last (so that those a burst opened age out), or
  // nullptr. Connections idle past options_.idle_timeout are closed on the
  // way: a burst of requests leaves no connections behind once it is over.
  std::unique_ptr<HttpConnection> take_idle(std::size_t i) {
    std::vector<Idle> closing;
    std::lock_guard lock(mu_);
    auto& pool = idle_[i];
    // Oldest first: those before the first one used recently have aged out.
    const auto fresh = std::find_if(pool.begin(), pool.end(), [&, now = SteadyClock::now()](const Idle& idle) {
      return now - idle.since < options_.idle_timeout;
    });
    closing.assign(std::make_move_iterator(pool.begin()), std::make_move_iterator(fresh));
    pool.erase(pool.begin(), fresh);
    while (!pool.empty()) {
      std::unique_ptr<HttpConnection> conn = std::move(pool.back().conn);
      pool.pop_back();
      if (conn->reusable()) return conn;
    }
    return nullptr;
  }

  // Keeps a connection for the next request, if it is to the member asked
  // first (one that finished after the preference moved on is closed).
  void put_idle(std::size_t i, std::unique_ptr<HttpConnection> conn) {
    std::lock_guard lock(mu_);
    if (i == preferred_.load() && idle_[i].size() < kMaxIdlePerEndpoint) {
      idle_[i].push_back({std::move(conn), SteadyClock::now()});
    }
  }

  // Makes member i the one asked first. Requests reach another member only
  // when the preferred one fails, so the connections kept to the others
  // would sit unused, each holding a socket and its own event loop, for as
  // long as the node runs (to a member that was frozen or had no leader
  // they are even alive): they are closed.
  void prefer(std::size_t i) {
    if (preferred_.exchange(i) == i) return;
    std::vector<Idle> unused;
    {
      std::lock_guard lock(mu_);
      for (std::size_t j = 0; j < idle_.size(); ++j) {
        if (j == i) continue;
        for (auto& idle : idle_[j]) unused.push_back(std::move(idle));
        idle_[j].clear();
      }
    }
    // Closed here, outside the lock.
  }

  const std::vector<Endpoint> endpoints_;
  const EtcdOptions options_;
  std::atomic<std::size_t> preferred_{0};
  std::mutex mu_;
  std::vector<std::vector<Idle>> idle_;  // guarded by mu_; per endpoint, oldest first
};

// --- watch ---------------------------------------------------------------------

class EtcdWatch {
 public:
  EtcdWatch(std::shared_ptr<EtcdClient> client, std::string key_namespace, KeyRange range,
            Revision next, WatchCallback callback)
      : client_(std::move(client)),
        ns_(std::move(key_namespace)),
        range_(std::move(range)),
        next_(next),
        callback_(std::move(callback)) {}

  ~EtcdWatch() {
    // The last reference may be the watch thread's own.
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();
      } else {
        thread_.join();
      }
    }
  }

  // Opens the stream on the first member that accepts it, starting with
  // `first`. On success *buffer holds what was read past the headers.
  Result<std::unique_ptr<HttpConnection>> open(std::size_t first, std::string* buffer) {
    const auto& endpoints = client_->endpoints();
    json::object create;
    set_range(create, range_);
    create["start_revision"] = i64(next_);
    json::object request;
    request["create_request"] = std::move(create);
    const std::string body = json::serialize(request);

    Status last(Code::kUnavailable, "etcd: no endpoint");
    for (std::size_t attempt = 0; attempt < endpoints.size(); ++attempt) {
      const std::size_t i = (first + attempt) % endpoints.size();
      auto conn = std::make_unique<HttpConnection>(endpoints[i]);
      {
        // Registered so that cancel() can abort a slow connect.
        std::lock_guard lock(mu_);
        if (cancelled_) return Status(Code::kUnavailable, "watch cancelled");
        conn_ = conn.get();
      }
      Status s = open_on(*conn, body, buffer);
      {
        std::lock_guard lock(mu_);
        conn_ = nullptr;
      }
      if (s) {
        endpoint_ = i;
        return conn;
      }
      last = s;
    }
    return last;
  }

  static void start(const std::shared_ptr<EtcdWatch>& self, std::unique_ptr<HttpConnection> conn,
                    std::string buffer) {
    std::lock_guard lock(self->mu_);
    self->thread_ = std::thread([self, conn = std::move(conn), buffer = std::move(buffer)]() mutable {
      self->run(std::move(conn), std::move(buffer));
    });
  }

  // After it returns the callback is not running (unless cancel() was
  // called from the callback itself) and is never called again.
  void cancel() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      if (conn_ != nullptr) conn_->interrupt();
      cv_.notify_all();
      if (std::this_thread::get_id() == thread_id_) return;  // from the callback
    }
    std::lock_guard join_lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  enum class Next { kRead, kReconnect, kStop };

  Status open_on(HttpConnection& conn, const std::string& body, std::string* buffer) {
    const auto& options = client_->options();
    if (Status s = conn.connect(options.connect_timeout); !s) return s;
    auto status = conn.post_stream("/v3/watch", body, options.request_timeout);
    if (!status) return status.status();
    if (*status != 200) {
      return Status(Code::kUnavailable, "etcd " + conn.endpoint().url + ": watch: HTTP " +
                                            std::to_string(*status));
    }
    // The first message confirms the watch; it stays in the buffer.
    buffer->clear();
    const auto deadline = SteadyClock::now() + options.request_timeout;
    while (buffer->find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - SteadyClock::now());
      if (left <= 0ms) {
        return Status(Code::kUnavailable, "etcd " + conn.endpoint().url + ": watch not created");
      }
      if (Status s = conn.read_stream(buffer, left); !s) return s;
    }
    boost::system::error_code ec;
    json::value v = json::parse(std::string_view(*buffer).substr(0, buffer->find('\n')), ec);
    const json::object* result =
        !ec && v.is_object() ? object_field(v.get_object(), "result") : nullptr;
    if (result == nullptr || !bool_field(*result, "created")) {
      return error_status(conn.endpoint(), 200, !ec && v.is_object() ? &v.get_object() : nullptr,
                          *buffer);
    }
    return Status::ok();
  }

  void run(std::unique_ptr<HttpConnection> conn, std::string buffer) {
    {
      std::lock_guard lock(mu_);
      thread_id_ = std::this_thread::get_id();
      conn_ = cancelled_ ? nullptr : conn.get();
    }
    const auto& options = client_->options();
    std::optional<SteadyClock::time_point> failing_since;
    auto backoff = std::chrono::milliseconds(kWatchRetryMin);
    Status last_error;
    while (!is_cancelled()) {
      if (!conn) {
        // Start with the member after the one that failed.
        auto opened = open((endpoint_ + 1) % client_->endpoints().size(), &buffer);
        if (!opened) {
          last_error = opened.status();
          const auto now = SteadyClock::now();
          if (!failing_since) failing_since = now;
          if (now - *failing_since >= options.watch_retry_limit) {
            deliver(Status(Code::kUnavailable,
                           "watch: no etcd member reachable: " + last_error.message()),
                    {});
            break;
          }
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, backoff, [&] { return cancelled_; })) break;
          backoff = std::min(backoff * 2, std::chrono::milliseconds(kWatchRetryMax));
          continue;
        }
        failing_since.reset();
        backoff = kWatchRetryMin;
        conn = std::move(opened).value();
        std::lock_guard lock(mu_);
        if (cancelled_) break;
        conn_ = conn.get();
      }

      Next next = drain(&buffer);
      if (next == Next::kRead) {
        Status s = conn->read_stream(&buffer, std::nullopt);
        if (!s) {
          // Deliver what arrived before the failure, then resume elsewhere.
          next = drain(&buffer);
          if (next == Next::kRead) next = Next::kReconnect;
        }
      }
      if (next == Next::kStop) break;
      if (next == Next::kReconnect) {
        {
          std::lock_guard lock(mu_);
          conn_ = nullptr;
        }
        conn.reset();
        buffer.clear();
      }
    }
    {
      std::lock_guard lock(mu_);
      conn_ = nullptr;
    }
    conn.reset();
    // The callback's captures are released here, on the watch thread, with
    // no lock held.
    callback_ = nullptr;
  }

  bool is_cancelled() {
    std::lock_guard lock(mu_);
    return cancelled_;
  }

  // Calls the callback unless cancelled; false when the watch must stop.
  bool deliver(const Status& status, const WatchResponse& response) {
    if (is_cancelled()) return false;
    callback_(status, response);
    return !is_cancelled();
  }

  // Handles every complete message in *buffer.
  Next drain(std::string* buffer) {
    std::size_t start = 0;
    Next next = Next::kRead;
    for (;;) {
      const std::size_t eol = buffer->find('\n', start);
      if (eol == std::string::npos) break;
      const std::string_view line = std::string_view(*buffer).substr(start, eol - start);
      start = eol + 1;
      if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
      next = handle(line);
      if (next != Next::kRead) break;
    }
    buffer->erase(0, start);
    return next;
  }

  Next handle(std::string_view line) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return Next::kReconnect;
    const json::object* result = object_field(v.get_object(), "result");
    if (result == nullptr) return Next::kReconnect;  // a stream error: member going away

    if (bool_field(*result, "canceled")) {
      const Revision compacted = int_field(*result, "compact_revision");
      if (compacted != 0) {
        deliver(Status(Code::kCompacted, "revision " + std::to_string(next_) +
                                             " is compacted; the oldest retained is " +
                                             std::to_string(compacted)),
                {});
      } else {
        deliver(Status(Code::kUnavailable,
                       "etcd cancelled the watch: " + string_field(*result, "cancel_reason")),
                {});
      }
      return Next::kStop;
    }

    const json::array* events = array_field(*result, "events");
    if (events == nullptr || events->empty()) return Next::kRead;
    std::vector<WatchEvent> parsed;
    parsed.reserve(events->size());
    for (const json::value& ev : *events) {
      if (!ev.is_object()) return Next::kReconnect;
      const json::object* kv = object_field(ev.get_object(), "kv");
      if (kv == nullptr) return Next::kReconnect;
      WatchEvent e;
      e.type = string_field(ev.get_object(), "type") == "DELETE" ? WatchEvent::Type::kDelete
                                                                 : WatchEvent::Type::kPut;
      std::string key;
      if (!bytes_field(*kv, "key", &key) || !key.starts_with(ns_)) return Next::kReconnect;
      e.kv.key = key.substr(ns_.size());
      if (!bytes_field(*kv, "value", &e.kv.value)) return Next::kReconnect;
      e.kv.mod_revision = int_field(*kv, "mod_revision");
      if (e.type == WatchEvent::Type::kPut) {
        e.kv.create_revision = int_field(*kv, "create_revision");
        e.kv.version = int_field(*kv, "version");
        e.kv.lease = int_field(*kv, "lease");
      } else {
        e.kv.value.clear();
      }
      parsed.push_back(std::move(e));
    }
    // etcd lists a transaction's events in the order of its operations;
    // the contract wants one response per revision, in key order.
    std::stable_sort(parsed.begin(), parsed.end(), [](const WatchEvent& a, const WatchEvent& b) {
      if (a.kv.mod_revision != b.kv.mod_revision) return a.kv.mod_revision < b.kv.mod_revision;
      return a.kv.key < b.kv.key;
    });
    for (std::size_t i = 0; i < parsed.size();) {
      WatchResponse response;
      response.revision = parsed[i].kv.mod_revision;
      for (; i < parsed.size() && parsed[i].kv.mod_revision == response.revision; ++i) {
        if (!response.events.empty() && response.events.back().kv.key == parsed[i].kv.key) {
          response.events.back() = std::move(parsed[i]);  // the later change of a key wins
        } else {
          response.events.push_back(std::move(parsed[i]));
        }
      }
      if (response.revision < next_) continue;  // already delivered before a reconnect
      if (!deliver(Status::ok(), response)) return Next::kStop;
      next_ = response.revision + 1;
    }
    return Next::kRead;
  }

  const std::shared_ptr<EtcdClient> client_;
  const std::string ns_;
  const KeyRange range_;
  // Owned by whoever runs the watch: watch() until start(), then the thread.
  Revision next_;            // the first revision not delivered yet
  std::size_t endpoint_ = 0;  // the member of the current stream
  WatchCallback callback_;

  std::mutex mu_;
  std::condition_variable cv_;  // cancelled_ became true
  bool cancelled_ = false;
  HttpConnection* conn_ = nullptr;  // the connection in use, for interrupt()
  std::thread::id thread_id_;

  std::mutex join_mu_;  // serializes joins by concurrent cancel() calls
  std::thread thread_;
};

class EtcdWatchHandle final : public WatchHandle {
 public:
  explicit EtcdWatchHandle(std::shared_ptr<EtcdWatch> watch) : watch_(std::move(watch)) {}
  ~EtcdWatchHandle() override { cancel(); }
  void cancel() override { watch_->cancel(); }

 private:
  const std::shared_ptr<EtcdWatch> watch_;
};

// --- store -----------------------------------------------------------------------

class EtcdMetaStore final : public MetaStore {
 public:
  EtcdMetaStore(std::shared_ptr<EtcdClient> client, std::string key_namespace)
      : client_(std::move(client)), ns_(std::move(key_namespace)) {}

  // Like the SQLite backend, no callback runs once the store is gone.
  ~EtcdMetaStore() override {
    std::vector<std::shared_ptr<EtcdWatch>> live;
    {
      std::lock_guard lock(watches_mu_);
      for (auto& w : watches_) {
        if (auto watch = w.lock()) live.push_back(std::move(watch));
      }
      watches_.clear();
    }
    for (auto& watch : live) watch->cancel();
  }

  Status open() {
    auto r = client_->call("/v3/maintenance/status", json::object(), EtcdClient::Retry::kSafe);
    return r ? Status::ok() : r.status();
  }

  Result<KeyValue> get(const std::string& key) override {
    if (key.empty()) return not_found("key \"\" not found");
    json::object body;
    body["key"] = base64_encode(ns_ + key);
    auto r = client_->call("/v3/kv/range", body, EtcdClient::Retry::kSafe);
    if (!r) return r.status();
    const json::array* kvs = array_field(*r, "kvs");
    if (kvs == nullptr || kvs->empty()) return not_found("key " + key + " not found");
    return to_kv(kvs->at(0));
  }

  Result<RangeResult> range(const std::string& prefix, std::size_t limit,
                            const std::string& start_after) override {
    KeyRange range = prefix_range(prefix);
    if (!start_after.empty()) {
      std::string after = ns_ + start_after;
      after.push_back('\0');  // the smallest key greater than start_after
      if (after > range.lo) range.lo = std::move(after);
    }
    if (range.hi && range.lo >= *range.hi) {
      auto rev = current_revision();
      if (!rev) return rev.status();
      return RangeResult{{}, *rev, false};
    }
    json::object body;
    set_range(body, range);
    if (limit != 0) body["limit"] = i64(static_cast<std::int64_t>(limit));
    auto r = client_->call("/v3/kv/range", body, EtcdClient::Retry::kSafe);
    if (!r) return r.status();
    RangeResult out;
    out.revision = header_revision(*r);
    out.more = bool_field(*r, "more");
    if (const json::array* kvs = array_field(*r, "kvs")) {
      out.kvs.reserve(kvs->size());
      for (const json::value& v : *kvs) {
        auto kv = to_kv(v);
        if (!kv) return kv.status();
        out.kvs.push_back(std::move(kv).value());
      }
    }
    return out;
  }

  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& ops) override {
    for (const auto& op : ops) {
      if (op.kind != Op::Kind::kDeletePrefix && op.key.empty()) {
        return invalid_argument("txn: empty key");
      }
    }

    json::array compare;
    bool holds = true;  // the compares evaluated here, on the empty key
    for (const auto& c : compares) {
      if (ns_.empty() && c.key.empty()) {
        // etcd rejects an empty key; no key is empty, so it is absent.
        switch (c.kind) {
          case Compare::Kind::kModRevisionEquals: holds = holds && c.revision == 0; break;
          case Compare::Kind::kExists: holds = false; break;
          case Compare::Kind::kAbsent: break;
        }
        continue;
      }
      json::object cmp;
      cmp["key"] = base64_encode(ns_ + c.key);
      switch (c.kind) {
        case Compare::Kind::kModRevisionEquals:
          cmp["target"] = "MOD";
          cmp["result"] = "EQUAL";
          cmp["mod_revision"] = i64(c.revision);
          break;
        // etcd compares an absent key as if all its fields were 0.
        case Compare::Kind::kExists:
          cmp["target"] = "VERSION";
          cmp["result"] = "GREATER";
          cmp["version"] = "0";
          break;
        case Compare::Kind::kAbsent:
          cmp["target"] = "VERSION";
          cmp["result"] = "EQUAL";
          cmp["version"] = "0";
          break;
      }
      compare.push_back(std::move(cmp));
    }
    if (!holds) {
      auto rev = current_revision();
      if (!rev) return rev.status();
      return TxnResult{false, *rev};
    }

    json::object body;
    body["compare"] = std::move(compare);
    body["success"] = plan(ops);
    auto r = client_->call("/v3/kv/txn", body, EtcdClient::Retry::kUnsafe);
    if (!r) return r.status();
    return TxnResult{bool_field(*r, "succeeded"), header_revision(*r)};
  }

  Result<Revision> current_revision() override {
    json::object body;
    body["key"] = base64_encode(ns_.empty() ? kNoEnd : ns_);
    body["count_only"] = true;
    auto r = client_->call("/v3/kv/range", body, EtcdClient::Retry::kSafe);
    if (!r) return r.status();
    return header_revision(*r);
  }

  Result<std::unique_ptr<WatchHandle>> watch(const std::string& prefix, Revision from_revision,
                                             WatchCallback callback) override {
    if (from_revision < 0) return invalid_argument("watch: negative revision");
    if (!callback) return invalid_argument("watch: no callback");
    Revision start = from_revision;
    if (start == 0) {
      // Pinning "now" here, rather than letting etcd pick it when the
      // stream is set up, keeps writes made right after watch() returns.
      auto rev = current_revision();
      if (!rev) return rev.status();
      start = *rev + 1;
    }
    try {
      auto watch = std::make_shared<EtcdWatch>(client_, ns_, prefix_range(prefix), start,
                                               std::move(callback));
      std::string buffer;
      auto conn = watch->open(client_->preferred(), &buffer);
      if (!conn) return conn.status();
      EtcdWatch::start(watch, std::move(conn).value(), std::move(buffer));
      {
        std::lock_guard lock(watches_mu_);
        std::erase_if(watches_, [](const std::weak_ptr<EtcdWatch>& w) { return w.expired(); });
        watches_.push_back(watch);
      }
      return std::unique_ptr<WatchHandle>(new EtcdWatchHandle(std::move(watch)));
    } catch (const std::exception& e) {
      return internal_error(std::string("etcd watch: ") + e.what());
    }
  }

  Result<LeaseId> lease_grant(std::int64_t ttl_seconds) override {
    if (ttl_seconds < 1 || ttl_seconds > kMaxLeaseTtlSeconds) {
      return invalid_argument("lease ttl must be between 1 and " +
                              std::to_string(kMaxLeaseTtlSeconds) + " seconds");
    }
    json::object body;
    body["TTL"] = i64(ttl_seconds);
    // A repeated grant only leaves an unused lease behind, which expires.
    auto r = client_->call("/v3/lease/grant", body, EtcdClient::Retry::kSafe);
    if (!r) return r.status();
    const LeaseId id = int_field(*r, "ID");
    if (id == 0) return internal_error("etcd: lease grant failed: " + string_field(*r, "error"));
    return id;
  }

  Status lease_keepalive(LeaseId lease) override {
    json::object body;
    body["ID"] = i64(lease);
    auto r = client_->call("/v3/lease/keepalive", body, EtcdClient::Retry::kSafe);
    if (!r) return r.status();
    // etcd answers an expired or unknown lease with TTL 0.
    if (int_field(*r, "TTL") <= 0) return not_found("lease " + std::to_string(lease) + " not found");
    return Status::ok();
  }

  Status lease_revoke(LeaseId lease) override {
    json::object body;
    body["ID"] = i64(lease);
    auto r = client_->call("/v3/lease/revoke", body, EtcdClient::Retry::kUnsafe);
    return r ? Status::ok() : r.status();
  }

  std::string describe() const override {
    std::string out = "etcd:";
    for (std::size_t i = 0; i < client_->endpoints().size(); ++i) {
      if (i != 0) out += ',';
      out += client_->endpoints()[i].url;
    }
    if (!ns_.empty()) out += " namespace " + ns_;
    return out;
  }

 private:
  KeyRange prefix_range(const std::string& prefix) const {
    std::string full = ns_ + prefix;
    auto end = prefix_range_end(full);
    return KeyRange{std::move(full), std::move(end)};
  }

  Result<KeyValue> to_kv(const json::value& v) const {
    if (!v.is_object()) return internal_error("etcd: malformed key-value");
    const json::object& o = v.get_object();
    KeyValue kv;
    std::string key;
    if (!bytes_field(o, "key", &key) || !key.starts_with(ns_) ||
        !bytes_field(o, "value", &kv.value)) {
      return internal_error("etcd: malformed key-value");
    }
    kv.key = key.substr(ns_.size());
    kv.create_revision = int_field(o, "create_revision");
    kv.mod_revision = int_field(o, "mod_revision");
    kv.version = int_field(o, "version");
    kv.lease = int_field(o, "lease");
    return kv;
  }

  // The txn's ops as etcd request ops. etcd refuses a txn that puts a key
  // twice or puts a key inside a range it deletes, so the ops are reduced
  // to their net effect: the last put of each key that survives, and delete
  // ranges that leave those keys out.
  json::array plan(const std::vector<Op>& ops) const {
    std::map<std::string, const Op*> last;  // full key -> its final put, or nullptr: deleted
    std::vector<KeyRange> ranges;
    for (const Op& op : ops) {
      switch (op.kind) {
        case Op::Kind::kPut:
          last[ns_ + op.key] = &op;
          break;
        case Op::Kind::kDelete:
          last[ns_ + op.key] = nullptr;
          break;
        case Op::Kind::kDeletePrefix: {
          KeyRange r = prefix_range(op.key);
          for (auto it = last.lower_bound(r.lo); it != last.end() && r.contains(it->first); ++it) {
            it->second = nullptr;
          }
          ranges.push_back(std::move(r));
          break;
        }
      }
    }

    // Merge overlapping ranges so that no key is deleted twice.
    std::sort(ranges.begin(), ranges.end(),
              [](const KeyRange& a, const KeyRange& b) { return a.lo < b.lo; });
    std::vector<KeyRange> merged;
    for (auto& r : ranges) {
      if (!merged.empty() && (!merged.back().hi || r.lo <= *merged.back().hi)) {
        auto& m = merged.back();
        if (m.hi && (!r.hi || *r.hi > *m.hi)) m.hi = r.hi;
      } else {
        merged.push_back(std::move(r));
      }
    }

    json::array out;
    auto delete_range = [&out](std::string lo, std::optional<std::string> hi) {
      json::object d;
      set_range(d, KeyRange{std::move(lo), std::move(hi)});
      json::object op;
      op["request_delete_range"] = std::move(d);
      out.push_back(std::move(op));
    };
    for (const auto& r : merged) {
      // Cut the range around every key that is put afterwards.
      std::string from = r.lo;
      for (auto it = last.lower_bound(r.lo); it != last.end() && r.contains(it->first); ++it) {
        if (it->second == nullptr) continue;
        if (from < it->first) delete_range(from, it->first);
        from = it->first;
        from.push_back('\0');
      }
      if (!r.hi || from < *r.hi) delete_range(from, r.hi);
    }
    for (const auto& [key, put] : last) {
      if (put == nullptr) {
        const bool covered = std::any_of(merged.begin(), merged.end(),
                                         [&](const KeyRange& r) { return r.contains(key); });
        if (covered) continue;
        json::object d;
        d["key"] = base64_encode(key);
        json::object op;
        op["request_delete_range"] = std::move(d);
        out.push_back(std::move(op));
      } else {
        json::object p;
        p["key"] = base64_encode(key);
        p["value"] = base64_encode(put->value);
        if (put->lease != 0) p["lease"] = i64(put->lease);
        json::object op;
        op["request_put"] = std::move(p);
        out.push_back(std::move(op));
      }
    }
    return out;
  }

  const std::shared_ptr<EtcdClient> client_;
  const std::string ns_;
  std::mutex watches_mu_;
  std::vector<std::weak_ptr<EtcdWatch>> watches_;  // to stop them with the store
};

}  // namespace

Result<std::unique_ptr<MetaStore>> open_etcd_meta_store(const std::vector<std::string>& endpoints,
                                                        const EtcdOptions& options) {
  if (endpoints.empty()) return invalid_argument("etcd: no endpoints");
  std::vector<etcd::Endpoint> parsed;
  for (const auto& url : endpoints) {
    auto ep = etcd::parse_endpoint(url);
    if (!ep) return ep.status();
    parsed.push_back(std::move(ep).value());
  }
  if (auto s = etcd::use_tls(parsed, options.ca_file, options.cert_file, options.key_file); !s) return s;
  try {
    auto client = std::make_shared<EtcdClient>(std::move(parsed), options);
    auto store = std::make_unique<EtcdMetaStore>(std::move(client), options.key_namespace);
    if (Status s = store->open(); !s) return s;
    return std::unique_ptr<MetaStore>(std::move(store));
  } catch (const std::exception& e) {
    return internal_error(std::string("cannot open etcd meta store: ") + e.what());
  }
}

Result<std::unique_ptr<MetaStore>> open_etcd_meta_store(const std::vector<std::string>& endpoints) {
  return open_etcd_meta_store(endpoints, EtcdOptions());
}

}  // namespace hifi
