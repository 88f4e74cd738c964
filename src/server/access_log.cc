#include "server/access_log.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/details/os.h>
#include <spdlog/pattern_formatter.h>

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <unistd.h>

namespace hifi {
namespace {

// What a queued line counts against max_queued_bytes beyond its text.
constexpr std::size_t kEntryOverhead = 64;

}  // namespace

AccessLog::AccessLog(Writer writer, Options options) : writer_(std::move(writer)), options_(options) {
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { stop(); }

bool AccessLog::add(std::string message) {
  Entry entry{spdlog::log_clock::now(), std::move(message)};
  const std::size_t cost = entry.message.size() + kEntryOverhead;
  const std::size_t wake_at = options_.max_queued_bytes / 4;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queued_bytes_ + cost > options_.max_queued_bytes) {
      ++dropped_;
      return false;
    }
    // The writer thread sleeps until a first line arrives, then gathers
    // for batch_delay unless a quarter of the queue fills first: most
    // lines wake nobody.
    wake = queue_.empty() || (queued_bytes_ < wake_at && queued_bytes_ + cost >= wake_at);
    queued_bytes_ += cost;
    queue_.push_back(std::move(entry));
  }
  if (wake) wake_.notify_one();
  return true;
}

void AccessLog::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::uint64_t AccessLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void AccessLog::run() {
  std::vector<Entry> batch;
  std::string out;
  std::uint64_t reported = 0;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || dropped_ > reported; });
    if (!stopping_) {
      wake_.wait_for(lock, options_.batch_delay,
                     [&] { return stopping_ || queued_bytes_ >= options_.max_queued_bytes / 4; });
    }
    batch.swap(queue_);  // queue_ takes over batch's (cleared) capacity
    queued_bytes_ = 0;
    const std::uint64_t newly_dropped = dropped_ - reported;
    reported = dropped_;
    const bool last = stopping_;
    lock.unlock();
    out.clear();
    format(batch, newly_dropped, out);
    if (!out.empty()) writer_(out);
    batch.clear();
    lock.lock();
    // add() queues nothing once stopping_ is set, so this batch held the rest.
    if (last) return;
  }
}

void AccessLog::format(const std::vector<Entry>& entries, std::uint64_t newly_dropped, std::string& out) const {
  // The writer thread's own formatter: pattern_formatter is not thread-safe.
  thread_local std::unique_ptr<spdlog::formatter> formatter;
  if (!formatter) formatter = std::make_unique<spdlog::pattern_formatter>(kLogPattern);
  spdlog::memory_buf_t buf;
  auto append = [&](spdlog::log_clock::time_point time, spdlog::level::level_enum level, std::string_view text) {
    spdlog::details::log_msg msg(time, spdlog::source_loc{}, "", level, spdlog::string_view_t(text.data(), text.size()));
    buf.clear();
    formatter->format(msg, buf);
    const std::string_view line(buf.data(), buf.size());
    if (!options_.colour || msg.color_range_end <= msg.color_range_start) {
      out.append(line);
      return;
    }
    out.append(line.substr(0, msg.color_range_start));
    out.append(level == spdlog::level::info ? "\033[32m" : "\033[33m\033[1m");
    out.append(line.substr(msg.color_range_start, msg.color_range_end - msg.color_range_start));
    out.append("\033[m");
    out.append(line.substr(msg.color_range_end));
  };
  for (const auto& entry : entries) append(entry.time, spdlog::level::info, entry.message);
  if (newly_dropped > 0) {
    append(spdlog::log_clock::now(), spdlog::level::warn,
           "access log: " + std::to_string(newly_dropped) +
               " request line(s) dropped: the log output could not keep up");
  }
}

AccessLog::Writer AccessLog::stdout_writer() {
  return [](std::string_view lines) {
    ::flockfile(stdout);
    std::fwrite(lines.data(), 1, lines.size(), stdout);
    std::fflush(stdout);
    ::funlockfile(stdout);
  };
}

ConnectionLog::ConnectionLog(AccessLog& log, std::string client_address, std::function<void()> dropped)
    : log_(log), client_address_(std::move(client_address)), dropped_(std::move(dropped)) {}

ConnectionLog::~ConnectionLog() { flush(); }

void ConnectionLog::write(std::string line) {
  if (!log_.add(std::move(line)) && dropped_) dropped_();
}

void ConnectionLog::add(const Request& request, std::chrono::steady_clock::time_point now) {
  const bool continues = run_started_ && request.file_bytes && request.status == run_status_ &&
                         request.method == run_method_ && request.path == run_path_ && now - run_start_ < kRunSpan;
  if (continues) {
    ++run_count_;
    run_bytes_ += request.bytes;
    run_ms_ += request.ms;
    run_slowest_ms_ = std::max(run_slowest_ms_, request.ms);
    return;
  }
  flush();
  run_started_ = false;
  // Every line that starts a run, and every other line, is written at once.
  write(fmt::format("{} {} {} -> {} {}B {:.1f}ms", client_address_, request.method, request.path, request.status,
                    request.bytes, request.ms));
  if (!request.file_bytes) return;
  run_started_ = true;
  run_method_.assign(request.method);
  run_path_.assign(request.path);
  run_status_ = request.status;
  run_start_ = now;
}

void ConnectionLog::flush() {
  if (run_count_ > 0) {
    write(fmt::format("{} {} {} -> {} {}B in {} more {}, {:.1f}ms (slowest {:.1f}ms)", client_address_, run_method_,
                      run_path_, run_status_, run_bytes_, run_count_, run_count_ == 1 ? "response" : "responses",
                      run_ms_, run_slowest_ms_));
  }
  run_count_ = 0;
  run_bytes_ = 0;
  run_ms_ = 0;
  run_slowest_ms_ = 0;
}

}  // namespace hifi
