#include "server/metrics.h"

#include <fmt/format.h>

#include <type_traits>

namespace hifi {

void Metrics::count_request(const std::string& method, const std::string& route, int status) {
  const std::tuple<std::string_view, std::string_view, int> key{method, route, status};
  std::lock_guard lock(mu_);
  auto it = requests_.find(key);
  if (it == requests_.end()) it = requests_.emplace(std::tuple{method, route, status}, 0).first;
  ++it->second;
}

void Metrics::count_upload(const std::string& result) {
  std::lock_guard lock(mu_);
  ++uploads_[result];
}

void Metrics::count_transcode(const std::string& result) {
  std::lock_guard lock(mu_);
  ++transcodes_[result];
}

void Metrics::observe_store_op(const std::string& op, double seconds) {
  std::lock_guard lock(mu_);
  auto& h = store_ops_[op];
  for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
    if (seconds <= Histogram::kBounds[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP hifi_http_requests_total HTTP requests by method, route and status.\n";
  out += "# TYPE hifi_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out += fmt::format("hifi_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                       method, route, status, n);
  }
  out += "# HELP hifi_http_received_bytes_total Bytes of request bodies received.\n";
  out += "# TYPE hifi_http_received_bytes_total counter\n";
  out += fmt::format("hifi_http_received_bytes_total {}\n", bytes_in_.load());
  out += "# HELP hifi_http_sent_bytes_total Bytes of response bodies sent.\n";
  out += "# TYPE hifi_http_sent_bytes_total counter\n";
  out += fmt::format("hifi_http_sent_bytes_total {}\n", bytes_out_.load());
  out += "# HELP hifi_access_log_dropped_total Request log lines dropped because the log output could not keep up.\n";
  out += "# TYPE hifi_access_log_dropped_total counter\n";
  out += fmt::format("hifi_access_log_dropped_total {}\n", access_log_dropped_.load());
  out += "# HELP hifi_active_streams Song streams being sent right now.\n";
  out += "# TYPE hifi_active_streams gauge\n";
  out += fmt::format("hifi_active_streams {}\n", active_streams_.load());
  out += "# HELP hifi_open_connections Open HTTP connections.\n";
  out += "# TYPE hifi_open_connections gauge\n";
  out += fmt::format("hifi_open_connections {}\n", open_connections_.load());
  out += "# HELP hifi_open_websockets Room listeners connected by WebSocket.\n";
  out += "# TYPE hifi_open_websockets gauge\n";
  out += fmt::format("hifi_open_websockets {}\n", open_websockets_.load());
  out += "# HELP hifi_uploads_total Song uploads by result.\n";
  out += "# TYPE hifi_uploads_total counter\n";
  for (const auto& [result, n] : uploads_) {
    out += fmt::format("hifi_uploads_total{{result=\"{}\"}} {}\n", result, n);
  }
  out += "# HELP hifi_transcodes_total Transcoded streams by result.\n";
  out += "# TYPE hifi_transcodes_total counter\n";
  for (const auto& [result, n] : transcodes_) {
    out += fmt::format("hifi_transcodes_total{{result=\"{}\"}} {}\n", result, n);
  }
  out += "# HELP hifi_active_transcodes Transcodes running right now.\n";
  out += "# TYPE hifi_active_transcodes gauge\n";
  out += fmt::format("hifi_active_transcodes {}\n", active_transcodes_.load());
  out += "# HELP hifi_store_operation_seconds MetaStore operation latency.\n";
  out += "# TYPE hifi_store_operation_seconds histogram\n";
  for (const auto& [op, h] : store_ops_) {
    for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
      out += fmt::format("hifi_store_operation_seconds_bucket{{op=\"{}\",le=\"{}\"}} {}\n", op,
                         Histogram::kBounds[i], h.buckets[i]);
    }
    out += fmt::format("hifi_store_operation_seconds_bucket{{op=\"{}\",le=\"+Inf\"}} {}\n", op,
                       h.count);
    out += fmt::format("hifi_store_operation_seconds_sum{{op=\"{}\"}} {}\n", op, h.sum);
    out += fmt::format("hifi_store_operation_seconds_count{{op=\"{}\"}} {}\n", op, h.count);
  }
  return out;
}

namespace {

class InstrumentedMetaStore final : public MetaStore {
 public:
  InstrumentedMetaStore(std::unique_ptr<MetaStore> inner, Metrics& metrics)
      : inner_(std::move(inner)), metrics_(metrics) {}

  Result<KeyValue> get(const std::string& key) override {
    return timed("get", [&] { return inner_->get(key); });
  }
  Result<RangeResult> range(const std::string& prefix, std::size_t limit,
                            const std::string& start_after) override {
    return timed("range", [&] { return inner_->range(prefix, limit, start_after); });
  }
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& ops) override {
    return timed("txn", [&] { return inner_->txn(compares, ops); });
  }
  Result<Revision> current_revision() override {
    return timed("revision", [&] { return inner_->current_revision(); });
  }
  Result<std::unique_ptr<WatchHandle>> watch(const std::string& prefix, Revision from,
                                             WatchCallback callback) override {
    return inner_->watch(prefix, from, std::move(callback));
  }
  Result<LeaseId> lease_grant(std::int64_t ttl) override {
    return timed("lease_grant", [&] { return inner_->lease_grant(ttl); });
  }
  Status lease_keepalive(LeaseId lease) override {
    return timed("lease_keepalive", [&] { return inner_->lease_keepalive(lease); });
  }
  Status lease_revoke(LeaseId lease) override {
    return timed("lease_revoke", [&] { return inner_->lease_revoke(lease); });
  }
  std::string describe() const override { return inner_->describe(); }

 private:
  template <typename F>
  std::invoke_result_t<F> timed(const char* op, F&& f) {
    auto start = std::chrono::steady_clock::now();
    auto result = f();
    metrics_.observe_store_op(
        op, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  }

  std::unique_ptr<MetaStore> inner_;
  Metrics& metrics_;
};

}  // namespace

std::unique_ptr<MetaStore> instrument_meta_store(std::unique_ptr<MetaStore> inner,
                                                 Metrics& metrics) {
  return std::make_unique<InstrumentedMetaStore>(std::move(inner), metrics);
}

}  // namespace hifi
