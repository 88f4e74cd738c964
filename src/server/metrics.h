// Metrics: counters, gauges and histograms exported in the Prometheus text
// format (version 0.0.4) at GET /metrics.
//
// Thread-safe; the hot paths (counter increments) take one short lock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "cluster/membership.h"
#include "store/meta_store.h"

namespace hifi {

class Metrics {
 public:
  void count_request(const std::string& method, const std::string& route, int status);
  // Request lines the access log dropped because its output could not keep up.
  void count_access_log_dropped() { ++access_log_dropped_; }
  void add_bytes_in(std::uint64_t n) { bytes_in_ += n; }
  void add_bytes_out(std::uint64_t n) { bytes_out_ += n; }
  void stream_started() { ++active_streams_; }
  void stream_finished() { --active_streams_; }
  void connection_opened() { ++open_connections_; }
  void connection_closed() { --open_connections_; }
  void websocket_opened() { ++open_websockets_; }
  void websocket_closed() { --open_websockets_; }
  // result: "created", "duplicate", "rejected", "failed"
  void count_upload(const std::string& result);
  // result: "cached" (served from the cache), "completed", "aborted"
  // (the client went away), "busy" (refused: no free slot), "failed"
  void count_transcode(const std::string& result);
  void transcode_started() { ++active_transcodes_; }
  void transcode_finished() { --active_transcodes_; }
  void observe_store_op(const std::string& op, double seconds);

  std::string render() const;

  // Current values, for the load a node reports to its cluster.
  cluster::LoadCounters load_counters() const {
    return {active_streams_.load(), bytes_out_.load(), open_connections_.load(), open_websockets_.load()};
  }

 private:
  struct Histogram {
    static constexpr std::array<double, 12> kBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.05,   0.1,   0.5,    1.0};
    std::array<std::uint64_t, kBounds.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };

  mutable std::mutex mu_;
  // std::less<>: count_request looks keys up without copying its strings.
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t, std::less<>> requests_;
  std::map<std::string, std::uint64_t> uploads_;
  std::map<std::string, std::uint64_t> transcodes_;
  std::map<std::string, Histogram> store_ops_;
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::uint64_t> access_log_dropped_{0};
  std::atomic<std::int64_t> active_streams_{0};
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::int64_t> open_websockets_{0};
  std::atomic<std::int64_t> active_transcodes_{0};
};

// A MetaStore decorator that times every operation into Metrics.
std::unique_ptr<MetaStore> instrument_meta_store(std::unique_ptr<MetaStore> inner,
                                                 Metrics& metrics);

}  // namespace hifi
