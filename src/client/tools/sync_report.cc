// hifi-sync-report: compares the --sync-log files of listeners and prints
// how far apart they played.
//
//   hifi-sync-report A.log B.log [C.log ...] [--json] [--max-gap-ms MS] [--max-step-frames N]
//
// A log line is "WALL_MS SONG_ID SAMPLE_INDEX SAMPLE_RATE": at local time
// WALL_MS the listener played frame SAMPLE_INDEX of SONG_ID. For every line
// of every other log, the first log's position at the same instant is
// interpolated from its surrounding lines (only across continuous playback:
// lines less than --max-gap-ms apart, 50 by default, whose index advanced by
// the elapsed time within --max-step-frames, 2.5 by default; a log sampled
// less often and timed more coarsely, such as a browser player's view polled
// by the speaker benchmark, needs more of both),
// and the difference in ms is the skew. Lines within 200 ms of a jump
// (seek, skip, start) in either log are left out: they measure the jump,
// not the sync. Also checks that all logs played the same songs in the same
// order.
//
// --json adds the skew once settled (a second or more after the last jump
// in either log) apart from the skew while settling (200 ms to 1 s after
// one: a jump that lands a fraction of a millisecond late is taken up by
// the player at about 2 ms a second), the signed mean of how far the other
// logs were ahead of the first (`mean_ahead_ms`: positive, they played
// later samples at the same instant), and the worst comparisons: how long
// after a jump each was, how far the other log was ahead of the first
// (negative: behind), which log that was (`log`: 1 for the second path
// given) and in which log the jump was (`jumped`: 0 for the first).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Line {
  double wall;
  std::string song;
  long long index;
  int rate;
  bool continuous_with_next = false;
  bool near_jump = false;
  double since_jump = 0;  // ms since the last jump in this log
};

// A comparison between two logs' positions at one instant.
struct Sample {
  double skew_ms;
  double wall;
  double since_jump;  // ms since the last jump in either log
  double ahead_ms;    // how far the other log is ahead of the first (negative: behind)
  std::size_t log;    // the other log (index into the paths)
  std::size_t jumped; // the log whose jump that was
};

constexpr double kSettledMs = 1000;

struct Continuity {
  double max_gap_ms = 50;
  double max_step_frames = 2.5;
};

bool load(const std::string& path, const Continuity& continuity, std::vector<Line>& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::string text;
  while (std::getline(in, text)) {
    std::istringstream fields(text);
    Line l{};
    if (fields >> l.wall >> l.song >> l.index >> l.rate && l.rate > 0) out.push_back(l);
  }
  // Continuity: the next line is the same song, advanced by the elapsed time
  // (within 2 frames: the player nudges by one frame per buffer).
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    const auto& a = out[i];
    const auto& b = out[i + 1];
    const double expected = (b.wall - a.wall) * a.rate / 1000.0;
    out[i].continuous_with_next =
        a.song == b.song && b.wall > a.wall && b.wall - a.wall < continuity.max_gap_ms &&
        std::fabs((b.index - a.index) - expected) <= continuity.max_step_frames;
  }
  std::vector<double> jumps;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i == 0 || !out[i - 1].continuous_with_next) jumps.push_back(out[i].wall);
  }
  std::size_t j = 0;
  for (auto& l : out) {
    while (j + 1 < jumps.size() && jumps[j + 1] <= l.wall) ++j;
    bool near = false;
    for (std::size_t k = (j > 0 ? j - 1 : 0); k < jumps.size() && k <= j + 1; ++k) {
      if (std::fabs(l.wall - jumps[k]) < 200) near = true;
    }
    l.near_jump = near;
    l.since_jump = jumps.empty() || jumps[j] > l.wall ? 0 : l.wall - jumps[j];
  }
  return true;
}

std::vector<std::string> song_order(const std::vector<Line>& log) {
  std::vector<std::string> order;
  for (const auto& l : log) {
    if (order.empty() || order.back() != l.song) order.push_back(l.song);
  }
  return order;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(std::ceil(p * v.size())) - 1;
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  bool json = false;
  Continuity continuity;
  // --max-gap-ms and --max-step-frames: a number in (0, limit].
  auto number = [&](int& i, double limit, double& out) {
    const std::string option = argv[i];
    char* end = nullptr;
    out = i + 1 < argc ? std::strtod(argv[++i], &end) : 0;
    if (end != nullptr && *end == '\0' && out > 0 && out <= limit) return true;
    std::cerr << "hifi-sync-report: " << option << " takes a number (up to " << limit << ")\n";
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a == "--max-gap-ms") {
      if (!number(i, 60'000, continuity.max_gap_ms)) return 2;
    } else if (a == "--max-step-frames") {
      if (!number(i, 48'000, continuity.max_step_frames)) return 2;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: hifi-sync-report A.log B.log [MORE.log ...] [--json] [--max-gap-ms MS]\n"
                   "Prints the skew between listeners' --sync-log files (p50/p99/max, ms)\n"
                   "and whether they played the same songs in the same order.\n"
                   "  --json           also the skew once settled and while settling, the signed\n"
                   "                   mean, and the worst comparisons\n"
                   "  --max-gap-ms MS  lines further apart than this are not continuous playback\n"
                   "                   (default 50; more for logs sampled less often)\n"
                   "  --max-step-frames N  nor lines whose index advanced by more than N frames\n"
                   "                   besides the elapsed time (default 2.5; more for coarse clocks)\n";
      return 0;
    } else paths.push_back(a);
  }
  if (paths.size() < 2) {
    std::cerr << "hifi-sync-report: give at least two sync logs (see --help)\n";
    return 2;
  }
  std::vector<std::vector<Line>> logs(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!load(paths[i], continuity, logs[i])) {
      std::cerr << "hifi-sync-report: cannot read " << paths[i] << "\n";
      return 2;
    }
  }
  const auto& ref = logs[0];
  std::vector<Sample> samples;
  bool same_songs = true;
  for (std::size_t k = 1; k < logs.size(); ++k) {
    if (song_order(logs[k]) != song_order(ref)) same_songs = false;
    std::size_t r = 0;
    for (const auto& l : logs[k]) {
      if (l.near_jump) continue;
      while (r + 1 < ref.size() && ref[r + 1].wall <= l.wall) ++r;
      if (r >= ref.size() || ref[r].wall > l.wall || !ref[r].continuous_with_next || ref[r].near_jump) continue;
      if (ref[r].song != l.song) continue;
      const double expected = ref[r].index + (l.wall - ref[r].wall) * ref[r].rate / 1000.0;
      const double ahead = (l.index - expected) * 1000.0 / l.rate;
      samples.push_back({std::fabs(ahead), l.wall, std::min(l.since_jump, ref[r].since_jump), ahead, k,
                         l.since_jump <= ref[r].since_jump ? k : 0});
    }
  }
  std::vector<double> skews;
  for (const auto& sample : samples) skews.push_back(sample.skew_ms);
  const double p50 = percentile(skews, 0.5), p99 = percentile(skews, 0.99);
  const double max = skews.empty() ? 0 : *std::max_element(skews.begin(), skews.end());
  if (json) {
    std::vector<double> settled, settling;
    for (const auto& sample : samples) (sample.since_jump >= kSettledMs ? settled : settling).push_back(sample.skew_ms);
    const double settling_max = settling.empty() ? 0 : *std::max_element(settling.begin(), settling.end());
    double ahead_sum = 0;
    for (const auto& sample : samples) ahead_sum += sample.ahead_ms;
    const double mean_ahead = samples.empty() ? 0 : ahead_sum / static_cast<double>(samples.size());
    std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) { return a.skew_ms > b.skew_ms; });
    samples.resize(std::min<std::size_t>(samples.size(), 5));
    std::string worst;
    for (const auto& sample : samples) {
      char item[256];
      std::snprintf(item, sizeof item,
                    "%s{\"skew_ms\":%.4f,\"wall_ms\":%.1f,\"ms_after_jump\":%.0f,\"ahead_ms\":%.4f,\"log\":%zu,"
                    "\"jumped\":%zu}",
                    worst.empty() ? "" : ",", sample.skew_ms, sample.wall, sample.since_jump, sample.ahead_ms,
                    sample.log, sample.jumped);
      worst += item;
    }
    std::printf("{\"samples\":%zu,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,\"mean_ahead_ms\":%.4f,"
                "\"same_songs\":%s,\"settled\":{\"samples\":%zu,\"p99_ms\":%.4f},\"settling\":{\"samples\":%zu,\"max_ms\":%.4f},"
                "\"worst\":[%s]}\n",
                skews.size(), p50, p99, max, mean_ahead, same_songs ? "true" : "false", settled.size(),
                percentile(settled, 0.99), settling.size(), settling_max, worst.c_str());
  } else {
    std::printf("%zu comparisons: skew p50 %.4f ms, p99 %.4f ms, max %.4f ms; %s\n", skews.size(), p50, p99,
                max, same_songs ? "same songs in the same order" : "DIFFERENT songs or order");
  }
  return same_songs && !skews.empty() ? 0 : 1;
}
