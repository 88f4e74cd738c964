// AccessLog: the one info line per HTTP request, written off the request
// path. A network thread only queues the line (with its time); a thread of
// the log's own writes the queued lines in batches, one write per batch, in
// the same format as the other log lines. The queue is bounded in bytes:
// when the output cannot keep up, further lines are dropped and counted,
// and a warning line saying how many went missing is written with the
// next batch. stop() (and the destructor) write every line queued before
// it returned.
//
// Thread-safety: add() from any thread; stop() once, from one thread.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace hifi {

// The pattern of every log line of hifi-server (main.cc sets it).
inline constexpr const char* kLogPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";

class AccessLog {
 public:
  // Receives formatted lines, several at a time, each ending in '\n'.
  using Writer = std::function<void(std::string_view lines)>;
  struct Options {
    std::size_t max_queued_bytes = 4 << 20;
    // How long the writer thread gathers lines after the first one arrives
    // (it goes at once when a quarter of max_queued_bytes is waiting).
    std::chrono::milliseconds batch_delay{50};
    // Surrounds the level name with the terminal's colours, as spdlog's
    // colour sink does on a terminal.
    bool colour = false;
  };

  AccessLog(Writer writer, Options options);
  explicit AccessLog(Writer writer) : AccessLog(std::move(writer), Options{}) {}
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Queues an info line; false when it was dropped (the queue is full, or
  // the log has stopped).
  bool add(std::string message);
  // Writes what is queued and ends the writer thread; later add()s drop.
  void stop();

  std::uint64_t dropped() const;

  // A Writer for the process's standard output, where spdlog's default
  // logger writes: whole batches under stdout's lock, so they never
  // interleave with the other log lines.
  static Writer stdout_writer();

 private:
  struct Entry {
    spdlog::log_clock::time_point time;
    std::string message;
  };

  void run();
  void format(const std::vector<Entry>& entries, std::uint64_t newly_dropped, std::string& out) const;

  const Writer writer_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Entry> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// What the request log says of one connection: a line per request, except
// for runs of responses that carry a file's bytes (a song, a range of it, a
// cover) for the same method, path and status: a player asks for many
// ranges of one song on one connection, and a line for each cost the server
// a tenth of such a request. The first response of a run has its line at
// once like any other; the rest are summed up in one line ("in N more
// responses") written when the run ends: a request that does not belong to
// it, a request more than kRunSpan after the run's first, or the
// connection's end (flush(), the destructor). Not thread-safe: one per
// connection, used by its session.
class ConnectionLog {
 public:
  static constexpr std::chrono::milliseconds kRunSpan{2000};

  struct Request {
    std::string_view method;
    std::string_view path;  // as sent, without the query
    int status = 0;
    std::uint64_t bytes = 0;
    double ms = 0;
    bool file_bytes = false;  // a 200 or 206 with a file's bytes
  };

  // `dropped` is called for each line the log drops (its queue is full).
  ConnectionLog(AccessLog& log, std::string client_address, std::function<void()> dropped);
  ~ConnectionLog();
  ConnectionLog(const ConnectionLog&) = delete;
  ConnectionLog& operator=(const ConnectionLog&) = delete;

  void add(const Request& request, std::chrono::steady_clock::time_point now);
  // Writes the sum of the run's later responses, if any.
  void flush();

 private:
  void write(std::string line);

  AccessLog& log_;
  const std::string client_address_;
  const std::function<void()> dropped_;
  // The run in progress: its first response (logged), then the sum of the
  // ones after it (run_count_ of them, not logged yet).
  bool run_started_ = false;
  std::string run_method_;
  std::string run_path_;
  int run_status_ = 0;
  std::uint64_t run_count_ = 0;
  std::uint64_t run_bytes_ = 0;
  double run_ms_ = 0;
  double run_slowest_ms_ = 0;
  std::chrono::steady_clock::time_point run_start_;
};

}  // namespace hifi
