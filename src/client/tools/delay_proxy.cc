// hifi-delay-proxy: a TCP proxy that delays each direction of every
// connection it relays, so that a loopback path behaves like Wi-Fi or the
// Internet in sync tests and benchmarks (without kernel traffic shaping).
//
//   hifi-delay-proxy --listen 127.0.0.1:0 --to 127.0.0.1:PORT [options]
//
// Each chunk read from one side (up to 64 KiB) is released to the other side at
//   max(arrival + max(0, N(delay, jitter)), release of the previous chunk)
// so bytes keep their order, as TCP delivers them. Stalls come as a Poisson
// process per direction; a stall starting at S holds its direction until
// S + stall-ms, like a retransmission: whatever falls due inside it goes out
// when it ends. "up" is client to server (--to), "down" server to client.
//
// Limits: 256 connections at a time (more are closed at once, with a log
// line); 8 MiB and 16 Ki chunks queued per direction per connection, beyond
// which that side is not read until the queue drains (TCP backpressure).
//
// When a side sends EOF, the other direction delivers what is queued, then
// shuts down its write side; an error closes both sockets. SIGINT and
// SIGTERM exit with 0 after writing --stats-file. Bad flags exit with 2.
//
// One thread runs everything, so nothing here is locked.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxQueuedBytes = 8 * 1024 * 1024;
// Bounds the bookkeeping of many tiny chunks, which the byte limit alone
// would let grow to many times 8 MiB.
constexpr std::size_t kMaxQueuedChunks = 16 * 1024;
constexpr std::size_t kMaxConnections = 256;
constexpr int kUsageExit = 2;

constexpr const char* kUsage =
    R"(usage: hifi-delay-proxy --listen ADDR:PORT --to HOST:PORT [options]

Relays every TCP connection accepted on --listen to --to, delaying each
direction on its own as a Wi-Fi or Internet path would, with bytes kept in
order. "up" is client to server (--to), "down" server to client.

  --listen ADDR:PORT      IP address to listen on (port 0: any free port)
  --to HOST:PORT          where each connection is relayed
  --delay-ms MS           mean one-way delay of each direction (default 20)
  --jitter-ms MS          its standard deviation, normally distributed (default 10)
  --up-delay-ms MS        --delay-ms for the up direction only
  --up-jitter-ms MS       --jitter-ms for the up direction only
  --down-delay-ms MS      --delay-ms for the down direction only
  --down-jitter-ms MS     --jitter-ms for the down direction only
  --stall-every-s S       mean time between stalls of each direction, as a
                          Poisson process (default 0: no stalls)
  --stall-ms MS           how long a stall holds its direction (default 200)
  --seed N                random seed, for repeatable delays (default 1)
  --port-file FILE        write the bound port to FILE (atomically, by rename)
  --stats-file FILE       on exit, write connections, bytes, chunks and the
                          scheduled delay p50/p99 of each direction as JSON
  --help                  print this and exit
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DelayConfig {
  double delay_ms = 20;
  double jitter_ms = 10;
};

struct StallConfig {
  double every_s = 0;  // 0: none
  double ms = 200;
};

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

struct Options {
  HostPort listen;
  HostPort to;
  DelayConfig up;
  DelayConfig down;
  StallConfig stall;
  std::uint64_t seed = 1;
  std::string port_file;
  std::string stats_file;
};

Clock::duration from_ms(double ms) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

double to_ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A finite number >= 0, or a UsageError naming `flag`.
double parse_non_negative(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(x) || x < 0) {
    throw UsageError(flag + " needs a number >= 0, got '" + value + "'");
  }
  return x;
}

// "HOST:PORT" or "[V6]:PORT"; port 0 only when `allow_port_zero`.
HostPort parse_host_port(const std::string& flag, const std::string& value, bool allow_port_zero) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
    throw UsageError(flag + " needs HOST:PORT, got '" + value + "'");
  }
  HostPort out;
  out.host = value.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  const char* first = value.data() + colon + 1;
  const char* last = value.data() + value.size();
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || ptr != last || port > 65535 || (port == 0 && !allow_port_zero)) {
    throw UsageError(flag + " has a bad port in '" + value + "'");
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

// The options, or nullopt when --help was asked for. Throws UsageError.
std::optional<Options> parse_args(int argc, char** argv) {
  Options opt;
  bool have_listen = false;
  bool have_to = false;
  // Per-direction flags override the shared ones whatever their order.
  std::optional<double> up_delay, up_jitter, down_delay, down_jitter;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag == "--help" || flag == "-h") return std::nullopt;
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--listen") {
      opt.listen = parse_host_port(flag, value(), true);
      have_listen = true;
    } else if (flag == "--to") {
      opt.to = parse_host_port(flag, value(), false);
      have_to = true;
    } else if (flag == "--delay-ms") {
      opt.up.delay_ms = opt.down.delay_ms = parse_non_negative(flag, value());
    } else if (flag == "--jitter-ms") {
      opt.up.jitter_ms = opt.down.jitter_ms = parse_non_negative(flag, value());
    } else if (flag == "--up-delay-ms") {
      up_delay = parse_non_negative(flag, value());
    } else if (flag == "--up-jitter-ms") {
      up_jitter = parse_non_negative(flag, value());
    } else if (flag == "--down-delay-ms") {
      down_delay = parse_non_negative(flag, value());
    } else if (flag == "--down-jitter-ms") {
      down_jitter = parse_non_negative(flag, value());
    } else if (flag == "--stall-every-s") {
      opt.stall.every_s = parse_non_negative(flag, value());
    } else if (flag == "--stall-ms") {
      opt.stall.ms = parse_non_negative(flag, value());
    } else if (flag == "--seed") {
      const std::string v = value();
      const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), opt.seed);
      if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
        throw UsageError("--seed needs a non-negative integer, got '" + v + "'");
      }
    } else if (flag == "--port-file") {
      opt.port_file = value();
    } else if (flag == "--stats-file") {
      opt.stats_file = value();
    } else {
      throw UsageError("unknown argument '" + flag + "'");
    }
    if (inline_value && inline_value->empty()) throw UsageError(flag + " needs a value");
  }
  if (!have_listen) throw UsageError("--listen ADDR:PORT is required");
  if (!have_to) throw UsageError("--to HOST:PORT is required");
  if (up_delay) opt.up.delay_ms = *up_delay;
  if (up_jitter) opt.up.jitter_ms = *up_jitter;
  if (down_delay) opt.down.delay_ms = *down_delay;
  if (down_jitter) opt.down.jitter_ms = *down_jitter;
  return opt;
}

// Counts and a histogram of scheduled delays for one direction, summed over
// all connections.
class DirectionStats {
 public:
  void record(std::size_t bytes, Clock::duration delay) {
    bytes_ += bytes;
    ++chunks_;
    const double buckets = std::round(to_ms(delay) / kBucketMs);
    ++histogram_[static_cast<std::size_t>(std::clamp(buckets, 0.0, double(kBuckets - 1)))];
  }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t chunks() const { return chunks_; }
  // The delay (to 0.1 ms; delays from 10 s up count as 10 s) that a
  // fraction `p` of chunks did not exceed; 0 without chunks.
  double percentile_ms(double p) const {
    if (chunks_ == 0) return 0;
    const auto rank =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p * double(chunks_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < histogram_.size(); ++i) {
      seen += histogram_[i];
      if (seen >= rank) return double(i) * kBucketMs;
    }
    return double(kBuckets - 1) * kBucketMs;
  }

 private:
  static constexpr double kBucketMs = 0.1;
  static constexpr std::size_t kBuckets = 100'001;  // 0 .. 10 s
  std::uint64_t bytes_ = 0;
  std::uint64_t chunks_ = 0;
  std::vector<std::uint32_t> histogram_ = std::vector<std::uint32_t>(kBuckets);
};

struct Stats {
  std::uint64_t connections = 0;
  std::uint64_t refused = 0;
  DirectionStats up;
  DirectionStats down;
};

class Session;

// What every connection shares. Outlives the io_context, whose destruction
// destroys the connections' coroutine frames.
struct Proxy {
  Options options;
  tcp::resolver::results_type target;
  Stats stats;
  std::size_t open = 0;  // connecting or relaying: what kMaxConnections bounds
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;  // relaying, by id
  bool stopping = false;
};

// The engine of one direction of one connection: the same --seed gives a
// connection the same draws whatever the others do.
std::mt19937_64 random_engine(std::uint64_t seed, std::uint64_t connection,
                              std::uint64_t direction) {
  std::seed_seq sequence{seed, seed >> 32, connection, direction};
  return std::mt19937_64(sequence);
}

std::string describe(const tcp::endpoint& e) {
  const auto a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

std::string describe(const tcp::socket& s) {
  boost::system::error_code ec;
  const auto e = s.remote_endpoint(ec);
  return ec ? std::string("?") : describe(e);
}

struct Chunk {
  std::vector<char> bytes;
  Clock::time_point arrival;
  Clock::time_point release;  // from the delay draw and the order; stalls come on top
};

// One direction of a connection: its reader stamps each chunk with its
// release time and queues it, its writer sends the queue's front when that
// time comes. Both run on the one thread, through the owning Session.
struct Direction {
  Direction(const char* from_name, const char* to_name, tcp::socket& from, tcp::socket& to,
            const DelayConfig& delay, const StallConfig& stall, std::mt19937_64 rng,
            DirectionStats& stats)
      : from_name(from_name),
        to_name(to_name),
        from(from),
        to(to),
        delay(delay),
        stall(stall),
        rng(rng),
        stats(stats),
        writer_timer(to.get_executor()),
        reader_wake(from.get_executor(), Clock::time_point::max()) {
    if (stall.every_s > 0 && stall.ms > 0) next_stall = Clock::now() + stall_gap();
  }

  // A one-way delay: N(delay, jitter), never below 0.
  Clock::duration draw_delay() {
    double ms = delay.delay_ms;
    if (delay.jitter_ms > 0) {
      ms = std::normal_distribution<double>(delay.delay_ms, delay.jitter_ms)(rng);
    }
    return from_ms(std::max(0.0, ms));
  }

  Clock::duration stall_gap() {
    return from_ms(1000 * std::exponential_distribution<double>(1 / stall.every_s)(rng));
  }

  // When something due at `t` can go out: the end of the stall holding `t`
  // (and of any stall starting before that end), or `t`. Calls come with
  // non-decreasing `t`; the stall schedule is drawn lazily up to it.
  Clock::time_point after_stalls(Clock::time_point t) {
    if (!next_stall) return t;
    for (;;) {
      while (*next_stall <= t) {
        stall_end = std::max(stall_end, *next_stall + from_ms(stall.ms));
        *next_stall += stall_gap();
      }
      if (t >= stall_end) return t;
      t = stall_end;
    }
  }

  bool has_room() const {
    return queued_bytes < kMaxQueuedBytes && queue.size() < kMaxQueuedChunks;
  }

  const char* from_name;  // "client" or "server", for the log
  const char* to_name;
  tcp::socket& from;
  tcp::socket& to;
  const DelayConfig delay;
  const StallConfig stall;
  std::mt19937_64 rng;
  DirectionStats& stats;

  std::deque<Chunk> queue;
  std::size_t queued_bytes = 0;
  Clock::time_point last_release;               // of the newest chunk queued
  Clock::time_point last_due;                   // when the newest chunk written was due
  std::optional<Clock::time_point> next_stall;  // unset without stalls
  Clock::time_point stall_end;
  bool eof = false;  // the reader saw EOF; the writer sends the rest, then shuts down

  std::uint64_t bytes = 0;
  std::uint64_t chunks = 0;

  // The writer waits on writer_timer for a release time, or, while
  // writer_idle, for the reader to queue something (which cancels it). The
  // reader waits on reader_wake (never expiring) for room in the queue.
  asio::steady_timer writer_timer;
  asio::steady_timer reader_wake;
  bool writer_idle = false;
  bool reader_waiting = false;
};

// One relayed connection: the client's socket, the server's and the two
// directions between them. Kept alive by its four coroutines (a reader and a
// writer per direction); the last one to end closes the sockets.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Proxy& proxy, std::uint64_t id, tcp::socket client, tcp::socket server)
      : proxy_(proxy),
        id_(id),
        client_(std::move(client)),
        server_(std::move(server)),
        up_("client", "server", client_, server_, proxy.options.up, proxy.options.stall,
            random_engine(proxy.options.seed, id, 0), proxy.stats.up),
        down_("server", "client", server_, client_, proxy.options.down, proxy.options.stall,
              random_engine(proxy.options.seed, id, 1), proxy.stats.down) {}

  void start() {
    boost::system::error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    server_.set_option(tcp::no_delay(true), ignored);
    proxy_.sessions.emplace(id_, weak_from_this());
    std::fprintf(stderr, "conn %llu open %s -> %s\n", static_cast<unsigned long long>(id_),
                 describe(client_).c_str(), describe(server_).c_str());
    const auto ex = client_.get_executor();
    for (Direction* d : {&up_, &down_}) {
      asio::co_spawn(ex, run(shared_from_this(), read_loop(*d)), log_failure);
      asio::co_spawn(ex, run(shared_from_this(), write_loop(*d)), log_failure);
    }
  }

  // Ends both directions at once, closing both sockets; the close is logged
  // with `reason` once the four tasks have returned. For an error on either
  // side, and on exit.
  void abort(std::string reason) {
    if (closed_) return;
    closed_ = true;
    reason_ = std::move(reason);
    boost::system::error_code ignored;
    client_.close(ignored);
    server_.close(ignored);
    for (Direction* d : {&up_, &down_}) {
      d->writer_timer.cancel();
      d->reader_wake.cancel();
    }
  }

  static void log_failure(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "hifi-delay-proxy: connection task failed: %s\n", x.what());
    }
  }

 private:
  static asio::awaitable<void> run(std::shared_ptr<Session> self, asio::awaitable<void> loop) {
    co_await std::move(loop);
    if (--self->running_ == 0) self->finish();
  }

  asio::awaitable<void> read_loop(Direction& d) {
    std::array<char, kReadChunk> buffer;
    for (;;) {
      while (!d.has_room() && !closed_) {
        d.reader_waiting = true;
        co_await d.reader_wake.async_wait(as_tuple(use_awaitable));
        d.reader_waiting = false;
      }
      if (closed_) co_return;
      const std::size_t want = std::min(kReadChunk, kMaxQueuedBytes - d.queued_bytes);
      auto [ec, n] = co_await d.from.async_read_some(asio::buffer(buffer.data(), want),
                                                     as_tuple(use_awaitable));
      if (closed_) co_return;
      if (ec == asio::error::eof) {
        d.eof = true;
        wake_writer(d);
        co_return;
      }
      if (ec) {
        abort(std::string("read from ") + d.from_name + ": " + ec.message());
        co_return;
      }
      const auto now = Clock::now();
      const auto release = std::max(now + d.draw_delay(), d.last_release);
      d.last_release = release;
      d.queue.push_back(Chunk{std::vector<char>(buffer.data(), buffer.data() + n), now, release});
      d.queued_bytes += n;
      wake_writer(d);
    }
  }

  asio::awaitable<void> write_loop(Direction& d) {
    for (;;) {
      if (closed_) co_return;
      if (d.queue.empty()) {
        if (d.eof) {
          boost::system::error_code ignored;
          d.to.shutdown(tcp::socket::shutdown_send, ignored);
          co_return;
        }
        d.writer_idle = true;
        d.writer_timer.expires_at(Clock::time_point::max());
        co_await d.writer_timer.async_wait(as_tuple(use_awaitable));
        d.writer_idle = false;
        continue;
      }
      Chunk& chunk = d.queue.front();
      const auto due = std::max(d.after_stalls(chunk.release), d.last_due);
      d.last_due = due;
      if (due > Clock::now()) {
        d.writer_timer.expires_at(due);
        co_await d.writer_timer.async_wait(as_tuple(use_awaitable));
        if (closed_) co_return;
      }
      auto [ec, n] =
          co_await asio::async_write(d.to, asio::buffer(chunk.bytes), as_tuple(use_awaitable));
      if (closed_) co_return;
      if (ec) {
        abort(std::string("write to ") + d.to_name + ": " + ec.message());
        co_return;
      }
      d.stats.record(n, due - chunk.arrival);
      d.bytes += n;
      ++d.chunks;
      d.queued_bytes -= chunk.bytes.size();
      d.queue.pop_front();
      if (d.reader_waiting) d.reader_wake.cancel();
    }
  }

  static void wake_writer(Direction& d) {
    if (d.writer_idle) d.writer_timer.cancel();
  }

  void finish() {
    boost::system::error_code ignored;
    client_.close(ignored);
    server_.close(ignored);
    --proxy_.open;
    proxy_.sessions.erase(id_);
    const double seconds = std::chrono::duration<double>(Clock::now() - opened_).count();
    std::fprintf(stderr,
                 "conn %llu closed after %.2f s (%s): up %llu B in %llu chunks, down %llu B in "
                 "%llu chunks\n",
                 static_cast<unsigned long long>(id_), seconds, reason_.c_str(),
                 static_cast<unsigned long long>(up_.bytes),
                 static_cast<unsigned long long>(up_.chunks),
                 static_cast<unsigned long long>(down_.bytes),
                 static_cast<unsigned long long>(down_.chunks));
  }

  Proxy& proxy_;
  const std::uint64_t id_;
  const Clock::time_point opened_ = Clock::now();
  tcp::socket client_;
  tcp::socket server_;
  Direction up_;
  Direction down_;
  int running_ = 4;
  bool closed_ = false;
  std::string reason_ = "both sides closed";
};

// Connects one accepted client to the target and starts relaying. Its
// connection slot is already counted in proxy.open.
asio::awaitable<void> connect_and_relay(Proxy& proxy, tcp::socket client) {
  const std::uint64_t id = proxy.next_id++;
  tcp::socket server(client.get_executor());
  auto [ec, endpoint] = co_await asio::async_connect(server, proxy.target, as_tuple(use_awaitable));
  if (proxy.stopping) {
    --proxy.open;
    co_return;
  }
  if (ec) {
    std::fprintf(stderr, "conn %llu from %s: cannot connect to %s:%u: %s\n",
                 static_cast<unsigned long long>(id), describe(client).c_str(),
                 proxy.options.to.host.c_str(), unsigned{proxy.options.to.port},
                 ec.message().c_str());
    --proxy.open;
    co_return;
  }
  std::make_shared<Session>(proxy, id, std::move(client), std::move(server))->start();
}

asio::awaitable<void> accept_loop(Proxy& proxy, tcp::acceptor& acceptor) {
  asio::steady_timer backoff(acceptor.get_executor());
  for (;;) {
    auto [ec, client] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors, typically: wait instead of spinning.
      std::fprintf(stderr, "accept failed: %s\n", ec.message().c_str());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (proxy.open >= kMaxConnections) {
      ++proxy.stats.refused;
      std::fprintf(stderr, "refused %s: %zu connections open (the limit)\n",
                   describe(client).c_str(), proxy.open);
      boost::system::error_code ignored;
      client.close(ignored);
      continue;
    }
    ++proxy.open;
    ++proxy.stats.connections;
    asio::co_spawn(acceptor.get_executor(), connect_and_relay(proxy, std::move(client)),
                   Session::log_failure);
  }
}

// Writes `text` to `path` through `path`.tmp and a rename, so that a reader
// never sees it half written. False on failure.
bool write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!(out << text) || !out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string stats_json(const Stats& s) {
  auto direction = [](const DirectionStats& d) {
    char text[256];
    std::snprintf(
        text, sizeof text,
        "{\"bytes\": %llu, \"chunks\": %llu, \"delay_ms_p50\": %.1f, \"delay_ms_p99\": %.1f}",
        static_cast<unsigned long long>(d.bytes()), static_cast<unsigned long long>(d.chunks()),
        d.percentile_ms(0.50), d.percentile_ms(0.99));
    return std::string(text);
  };
  return "{\"connections\": " + std::to_string(s.connections) +
         ", \"refused\": " + std::to_string(s.refused) + ",\n \"up\": " + direction(s.up) +
         ",\n \"down\": " + direction(s.down) + "}\n";
}

}  // namespace

int main(int argc, char** argv) {
  Proxy proxy;
  try {
    auto options = parse_args(argc, argv);
    if (!options) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    proxy.options = std::move(*options);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "hifi-delay-proxy: %s (see --help)\n", e.what());
    return kUsageExit;
  }
  const Options& opt = proxy.options;
  boost::system::error_code ec;
  const auto listen_address = asio::ip::make_address(opt.listen.host, ec);
  if (ec) {
    std::fprintf(stderr, "hifi-delay-proxy: --listen needs an IP address, got '%s' (see --help)\n",
                 opt.listen.host.c_str());
    return kUsageExit;
  }
  // Writes to a peer that is gone fail with EPIPE instead of killing us.
  std::signal(SIGPIPE, SIG_IGN);

  asio::io_context ioc(1);
  tcp::acceptor acceptor(ioc);
  try {
    proxy.target = tcp::resolver(ioc).resolve(opt.to.host, std::to_string(opt.to.port));
    const tcp::endpoint listen(listen_address, opt.listen.port);
    acceptor.open(listen.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(listen);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "hifi-delay-proxy: %s\n", e.what());
    return 1;
  }
  // Installed before the port file appears, so that a SIGTERM sent as soon
  // as it does is already ours.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    proxy.stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (const auto& [id, weak] : proxy.sessions) {
      if (auto session = weak.lock()) session->abort("proxy stopping");
    }
    ioc.stop();
  });
  const auto bound = acceptor.local_endpoint();
  if (!opt.port_file.empty() &&
      !write_file_atomically(opt.port_file, std::to_string(bound.port()) + "\n")) {
    std::fprintf(stderr, "hifi-delay-proxy: cannot write %s\n", opt.port_file.c_str());
    return 1;
  }
  std::printf("listening on %s\n", describe(bound).c_str());
  std::fflush(stdout);

  asio::co_spawn(ioc, accept_loop(proxy, acceptor), Session::log_failure);
  ioc.run();
  // The aborted connections' tasks are ready to return: let them, so that
  // each logs its close.
  ioc.restart();
  ioc.poll();

  if (!opt.stats_file.empty() && !write_file_atomically(opt.stats_file, stats_json(proxy.stats))) {
    std::fprintf(stderr, "hifi-delay-proxy: cannot write %s\n", opt.stats_file.c_str());
    return 1;
  }
  return 0;
}
