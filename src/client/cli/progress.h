// Progress display for transfers: one live bar per file on a terminal
// (redrawn in place, throttled), or one line per start/finish when the
// output is not a terminal (logs, pipes, --json runs keep stdout clean by
// drawing on stderr).
//
// Thread-safe: upload workers update their bars concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace hifi::client {

std::string human_bytes(double bytes);
std::string human_duration(double seconds);  // "1:05", "1:02:03"

class ProgressBoard {
 public:
  ProgressBoard();
  ~ProgressBoard();

  int add(const std::string& label, std::uint64_t total);
  void update(int id, std::uint64_t done, std::uint64_t total);
  // Removes the bar and prints `line` in its place.
  void finish(int id, const std::string& line);
  // Prints a line above the bars.
  void message(const std::string& line);

 private:
  struct Bar {
    std::string label;
    std::uint64_t done = 0;
    std::uint64_t total = 0;
    std::chrono::steady_clock::time_point started;
  };
  void redraw_locked(bool force);
  void clear_locked();
  std::string render(const Bar& bar) const;

  const bool tty_;
  std::mutex mu_;
  std::map<int, Bar> bars_;
  int next_id_ = 0;
  int drawn_lines_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace hifi::client
