#include "client/cli/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace hifi::client {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

ProgressBoard::ProgressBoard() : tty_(::isatty(STDERR_FILENO) == 1) {}

ProgressBoard::~ProgressBoard() {
  std::lock_guard lock(mu_);
  clear_locked();
}

std::string ProgressBoard::render(const Bar& bar) const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - bar.started).count();
  const double rate = elapsed > 0 ? bar.done / elapsed : 0;
  const double fraction = bar.total ? static_cast<double>(bar.done) / bar.total : 0;
  constexpr int kWidth = 24;
  int filled = static_cast<int>(fraction * kWidth);
  std::string gauge(kWidth, ' ');
  for (int i = 0; i < filled && i < kWidth; ++i) gauge[i] = '=';
  if (filled < kWidth) gauge[filled] = '>';
  std::string label = bar.label.size() > 32 ? "…" + bar.label.substr(bar.label.size() - 31) : bar.label;
  char line[256];
  std::snprintf(line, sizeof line, "%-32s [%s] %3.0f%% %9s/s ETA %s", label.c_str(), gauge.c_str(),
                fraction * 100, human_bytes(rate).c_str(),
                rate > 0 && bar.total ? human_duration((bar.total - bar.done) / rate).c_str() : "--:--");
  return line;
}

void ProgressBoard::clear_locked() {
  if (!tty_) return;
  for (int i = 0; i < drawn_lines_; ++i) std::fputs("\x1b[1A\x1b[2K", stderr);
  drawn_lines_ = 0;
}

void ProgressBoard::redraw_locked(bool force) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  clear_locked();
  for (const auto& [id, bar] : bars_) {
    std::fprintf(stderr, "%s\n", render(bar).c_str());
    ++drawn_lines_;
  }
  std::fflush(stderr);
}

int ProgressBoard::add(const std::string& label, std::uint64_t total) {
  std::lock_guard lock(mu_);
  int id = next_id_++;
  bars_[id] = {label, 0, total, std::chrono::steady_clock::now()};
  redraw_locked(true);
  return id;
}

void ProgressBoard::update(int id, std::uint64_t done, std::uint64_t total) {
  std::lock_guard lock(mu_);
  auto it = bars_.find(id);
  if (it == bars_.end()) return;
  it->second.done = done;
  if (total) it->second.total = total;
  redraw_locked(false);
}

void ProgressBoard::finish(int id, const std::string& line) {
  std::lock_guard lock(mu_);
  clear_locked();
  bars_.erase(id);
  std::fprintf(stderr, "%s\n", line.c_str());
  redraw_locked(true);
}

void ProgressBoard::message(const std::string& line) {
  std::lock_guard lock(mu_);
  clear_locked();
  std::fprintf(stderr, "%s\n", line.c_str());
  redraw_locked(true);
}

}  // namespace hifi::client
