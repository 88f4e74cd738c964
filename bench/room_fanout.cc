// room_fanout: load generator for the room fan-out benchmark
// (bench/rooms_bench.sh).
//
// Opens N WebSocket listeners to one URL, waits until every listener has its
// first message and the server has gone quiet (HiFi answers each join with a
// presence message to everyone in the room), then sends one command every
// --interval-ms for --seconds over one keep-alive HTTP connection, and
// measures, for each command, how long after it was sent the listeners got
// the message it caused. Messages are matched by a number in them: the
// room's "revision" for HiFi, "seq" for the ws peer; the command's HTTP
// answer tells which number it produced.
//
//   room_fanout --url ws://127.0.0.1:8080/api/v1/rooms/ID/ws?access_token=T
//               --command-url http://127.0.0.1:8080/api/v1/rooms/ID/commands
//               --token T --key revision --listeners 1000 --seconds 10
//               --pid SERVER_PID [--json] [--label hifi]
//
// Latency of a command = arrival at the last listener - t_send (steady
// clock, taken just before the request is written). Arrival is when this
// process read the bytes, so it includes the client's own reading time.
// Memory: the server's VmRSS (from /proc/PID/status) before any listener
// connects and once all are connected and idle, divided by N.
//
// Several servers (a cluster): give --url once per node and the listeners
// are spread over them round-robin (listener i on URL i mod K, or (i / M)
// mod K with M rooms); the commands
// still go to the one --command-url. --pid may also be repeated: RSS and CPU
// are then summed over those processes. With more than one --url, the
// report adds the last-listener latency per URL (the listeners of each node
// on their own), in text and as "per_url" in the JSON line.
//
// Several rooms: give --room ID once per room and write {room} where the
// room's id goes in --url, --command-url and --floor-url. Listener i joins
// room i mod M; command k goes to room k mod M; a command's latency is until
// the last listener of its room has the message. With M rooms of L listeners
// and a command every I ms, each room gets a command every M * I ms.
//
// Listeners are plain RFC 6455 clients written against Asio sockets (no
// Beast) so that the client stays cheap: one read per socket readiness, all
// frames in it parsed in place, pings answered with pongs.
#include <boost/asio.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <sys/resource.h>

namespace asio = boost::asio;
using asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "room_fanout: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// --- options ------------------------------------------------------------------

struct Url {
  std::string scheme, host, port, target;
};

Url parse_url(const std::string& text) {
  Url u;
  auto p = text.find("://");
  if (p == std::string::npos) die("bad URL (no scheme): " + text);
  u.scheme = text.substr(0, p);
  auto rest = text.substr(p + 3);
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    u.host = hostport;
    u.port = (u.scheme == "https" || u.scheme == "wss") ? "443" : "80";
  } else {
    u.host = hostport.substr(0, colon);
    u.port = hostport.substr(colon + 1);
  }
  if (u.scheme != "ws" && u.scheme != "http") die("only ws:// and http:// URLs are supported: " + text);
  return u;
}

struct Options {
  std::string url;
  std::vector<std::string> urls;  // every --url, in order (url = the first)
  std::vector<int> pids;          // every --pid
  std::vector<std::string> rooms;  // every --room; {room} in the URLs is replaced by one
  std::string command_url;
  std::string floor_url;  // read at the commands' cadence after them: the answer's floor
  std::string token;
  std::string key = "revision";  // the number matching a command to its message
  std::string label;
  std::string body_type = "seek";
  int listeners = 100;
  double seconds = 10;
  int interval_ms = 100;
  int pid = 0;
  int batch = 250;
  int threads = 1;
  int max_attempts = 12;
  std::int64_t max_position_ms = 600'000;
  int settle_ms = 500;
  double max_settle_s = 120;
  double drain_s = 5;
  double handshake_timeout_s = 15;
  bool json = false;
};

void usage() {
  std::puts(
      "usage: room_fanout --url ws://HOST:PORT/PATH --command-url http://HOST:PORT/PATH [options]\n"
      "  --url URL            repeat it to spread the listeners round-robin over several servers\n"
      "  --room ID            repeat it for several rooms: {room} in the URLs becomes each id; listener i\n"
      "                       joins room i mod M, command k goes to room k mod M\n"
      "  --listeners N        WebSocket listeners (default 100)\n"
      "  --seconds D          how long to send commands (default 10)\n"
      "  --interval-ms MS     one command every MS (default 100)\n"
      "  --key NAME           number matching messages to commands: revision (HiFi) or seq (peer)\n"
      "  --token T            bearer token for the command requests\n"
      "  --floor-url URL      after the commands, GET it at the same cadence (up to 50 times): what any answer\n"
      "                       takes at this cadence on this machine, next to the command's\n"
      "  --max-position-ms MS seek positions stay below this (default 600000)\n"
      "  --pid PID            server process, for VmRSS and CPU time (repeatable: summed)\n"
      "  --batch B            connect B listeners at a time (default 250)\n"
      "  --threads T          client I/O threads (default 1; the command sender has its own)\n"
      "  --settle-ms MS       after the joins, wait for MS without any message (default 500)\n"
      "  --max-settle-s S     ... but at most S seconds (default 120)\n"
      "  --drain-s S          after the last command, wait at most S for its messages (default 5)\n"
      "  --label NAME         name in the output (default: the key's server)\n"
      "  --json               also print one JSON line");
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--url") o.urls.push_back(next());
    else if (a == "--command-url") o.command_url = next();
    else if (a == "--floor-url") o.floor_url = next();
    else if (a == "--token") o.token = next();
    else if (a == "--key") o.key = next();
    else if (a == "--label") o.label = next();
    else if (a == "--listeners") o.listeners = std::stoi(next());
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--interval-ms") o.interval_ms = std::stoi(next());
    else if (a == "--pid") o.pids.push_back(std::stoi(next()));
    else if (a == "--room") o.rooms.push_back(next());
    else if (a == "--batch") o.batch = std::stoi(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--max-attempts") o.max_attempts = std::stoi(next());
    else if (a == "--max-position-ms") o.max_position_ms = std::stoll(next());
    else if (a == "--settle-ms") o.settle_ms = std::stoi(next());
    else if (a == "--max-settle-s") o.max_settle_s = std::stod(next());
    else if (a == "--drain-s") o.drain_s = std::stod(next());
    else if (a == "--handshake-timeout-s") o.handshake_timeout_s = std::stod(next());
    else if (a == "--json") o.json = true;
    else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else {
      usage();
      die("unknown argument " + a);
    }
  }
  if (!o.urls.empty()) o.url = o.urls.front();
  if (!o.pids.empty()) o.pid = o.pids.front();
  if (o.url.empty() || o.command_url.empty()) {
    usage();
    die("--url and --command-url are required");
  }
  if (o.listeners < 1 || o.threads < 1 || o.batch < 1 || o.interval_ms < 1 || o.seconds <= 0) die("bad numbers");
  if (o.label.empty()) o.label = o.key == "revision" ? "hifi" : "peer";
  if (o.rooms.empty()) o.rooms.push_back("");
  if (o.rooms.size() > static_cast<std::size_t>(o.listeners)) die("more rooms than listeners");
  if (o.rooms.size() > (std::size_t{1} << 19)) die("too many rooms");
  {
    auto sorted = o.rooms;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) die("a --room is given twice");
  }
  return o;
}

// text with every "{room}" replaced by room.
std::string with_room(std::string text, const std::string& room) {
  for (auto p = text.find("{room}"); p != std::string::npos; p = text.find("{room}", p + room.size())) {
    text.replace(p, 6, room);
  }
  return text;
}

// A message's number in its room, made unique across rooms.
std::int64_t room_key(std::size_t room, std::int64_t key) { return static_cast<std::int64_t>(room) << 44 | key; }

// --- /proc ----------------------------------------------------------------------

long read_rss_kib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// utime + stime of a process, in milliseconds; -1 when unknown.
double read_cpu_ms(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  // After "pid (comm) ": state is field 3 -> f[0]; utime is field 14 -> f[11].
  if (f.size() < 13) return -1;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) * 1000.0 / tick;
}

// Summed over several processes; -1 when any is unknown.
long read_rss_kib(const std::vector<int>& pids) {
  if (pids.empty()) return -1;
  long sum = 0;
  for (int pid : pids) {
    long v = read_rss_kib(pid);
    if (v < 0) return -1;
    sum += v;
  }
  return sum;
}

double read_cpu_ms(const std::vector<int>& pids) {
  if (pids.empty()) return -1;
  double sum = 0;
  for (int pid : pids) {
    double v = read_cpu_ms(pid);
    if (v < 0) return -1;
    sum += v;
  }
  return sum;
}

double self_cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// --- shared counters ------------------------------------------------------------

struct Shared {
  std::atomic<int> attempts_done{0};  // listeners that connected or gave up
  std::atomic<int> connected{0};
  std::atomic<int> failed{0};
  std::atomic<int> ready{0};  // got their first message
  std::atomic<int> closed{0};  // closed after connecting
  std::atomic<int> retries{0};
  std::atomic<std::int64_t> last_message_ns{0};
  std::atomic<bool> first_error_reported{false};
};

// Parses the integer after `"key":` in text; nullopt when absent.
std::optional<std::int64_t> find_number(std::string_view text, std::string_view quoted_key) {
  auto p = text.find(quoted_key);
  if (p == std::string_view::npos) return std::nullopt;
  const char* b = text.data() + p + quoted_key.size();
  const char* e = text.data() + text.size();
  while (b < e && *b == ' ') ++b;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(b, e, v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

// --- one listener -----------------------------------------------------------------

struct Listener {
  explicit Listener(asio::io_context& io) : io(io), sock(io) {}
  asio::io_context& io;
  tcp::socket sock;
  std::vector<unsigned char> buf = std::vector<unsigned char>(4096);
  std::size_t len = 0;
  std::string fragments;
  bool in_fragment = false;
  bool got_first = false;
  std::deque<std::string> out;  // pongs and the close reply
  bool writing = false;
  std::atomic<std::int64_t> last_key{-1};
  std::atomic<bool> open{false};
  std::vector<std::pair<std::int64_t, std::int64_t>> arrivals;  // key, steady ns
  std::uint64_t state_messages = 0;
  std::uint64_t other_messages = 0;
  std::uint64_t state_bytes = 0;
  int close_code = 0;
  std::string close_reason;
  std::size_t target = 0;  // index into --url
  std::size_t room = 0;    // index into --room
  bool connected = false;
  std::string error;
};

struct Context {
  const Options& opt;
  Shared& shared;
  std::vector<tcp::endpoint> endpoints;  // one per --url
  std::vector<std::string> handshakes;  // per (url, room): handshakes[target * rooms + room]
  std::string quoted_key;
};

asio::awaitable<void> flush_writes(Listener& l) {
  if (l.writing) co_return;
  l.writing = true;
  while (!l.out.empty()) {
    auto frame = std::move(l.out.front());
    l.out.pop_front();
    boost::system::error_code ec;
    co_await asio::async_write(l.sock, asio::buffer(frame), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  l.writing = false;
}

// A masked client frame (RFC 6455 5.3). Control frames only, so short.
std::string client_frame(int opcode, std::string_view payload) {
  static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  f.push_back(static_cast<char>(0x80 | std::min<std::size_t>(payload.size(), 125)));
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < payload.size() && i < 125; ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}

void on_message(Listener& l, Context& c, std::string_view text, std::int64_t ts) {
  // Only data messages count as the server talking: HiFi pings idle
  // connections every 10 s, which would otherwise never let a room look quiet.
  c.shared.last_message_ns.store(ts, std::memory_order_relaxed);
  if (!l.got_first) {
    l.got_first = true;
    c.shared.ready.fetch_add(1, std::memory_order_relaxed);
  }
  if (text.find("\"type\":\"state\"") != std::string_view::npos) {
    if (auto v = find_number(text, c.quoted_key)) {
      l.arrivals.emplace_back(*v, ts);
      l.last_key.store(*v, std::memory_order_relaxed);
    }
    ++l.state_messages;
    l.state_bytes += text.size();
  } else {
    ++l.other_messages;
  }
}

// Parses the complete frames in l.buf; false when the connection is over.
bool parse_frames(Listener& l, Context& c, std::int64_t ts) {
  std::size_t pos = 0;
  bool keep_going = true;
  while (keep_going && l.len - pos >= 2) {
    const unsigned char* p = l.buf.data() + pos;
    const bool fin = p[0] & 0x80;
    const int opcode = p[0] & 0x0f;
    const bool masked = p[1] & 0x80;
    std::uint64_t plen = p[1] & 0x7f;
    std::size_t header = 2;
    if (plen == 126) {
      if (l.len - pos < 4) break;
      plen = (std::uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (plen == 127) {
      if (l.len - pos < 10) break;
      plen = 0;
      for (int i = 0; i < 8; ++i) plen = (plen << 8) | p[2 + i];
      header = 10;
    }
    if (masked) header += 4;
    if (plen > (64u << 20)) {
      l.error = "frame too large";
      return false;
    }
    if (l.len - pos < header + plen) {
      if (l.buf.size() < header + plen) l.buf.resize(std::max<std::size_t>(header + plen, l.buf.size() * 2));
      break;
    }
    auto* payload = const_cast<unsigned char*>(p + header);
    if (masked) {
      const unsigned char* m = p + header - 4;
      for (std::uint64_t i = 0; i < plen; ++i) payload[i] ^= m[i % 4];
    }
    std::string_view data(reinterpret_cast<const char*>(payload), plen);
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (fin) {
          on_message(l, c, data, ts);
        } else {
          l.fragments.assign(data);
          l.in_fragment = true;
        }
        break;
      case 0x0:
        l.fragments.append(data);
        if (fin && l.in_fragment) {
          on_message(l, c, l.fragments, ts);
          l.fragments.clear();
          l.in_fragment = false;
        }
        break;
      case 0x8:  // close: answer it and stop
        l.close_code = plen >= 2 ? (static_cast<unsigned char>(data[0]) << 8) | static_cast<unsigned char>(data[1]) : 1005;
        if (plen > 2) l.close_reason.assign(data.substr(2));
        l.out.push_back(client_frame(0x8, data.substr(0, std::min<std::size_t>(2, data.size()))));
        asio::co_spawn(l.io, flush_writes(l), asio::detached);
        keep_going = false;
        break;
      case 0x9:  // ping
        l.out.push_back(client_frame(0xA, data));
        asio::co_spawn(l.io, flush_writes(l), asio::detached);
        break;
      default:
        break;
    }
    pos += header + plen;
  }
  if (pos > 0) {
    std::memmove(l.buf.data(), l.buf.data() + pos, l.len - pos);
    l.len -= pos;
  }
  return keep_going;
}

asio::awaitable<void> run_listener(Listener& l, Context& c) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  std::mt19937 rng(static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(&l)));
  bool ok = false;
  for (int attempt = 0; attempt < c.opt.max_attempts && !ok; ++attempt) {
    if (attempt > 0) {
      c.shared.retries.fetch_add(1, std::memory_order_relaxed);
      const int base = std::min(2000, 25 << std::min(attempt, 7));
      timer.expires_after(std::chrono::milliseconds(base + static_cast<int>(rng() % (base / 2 + 1))));
      boost::system::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    boost::system::error_code ec;
    l.sock = tcp::socket(ex);
    l.len = 0;
    // Give up on this attempt when connect + handshake take too long.
    bool attempt_over = false;
    asio::steady_timer deadline(ex);
    deadline.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(c.opt.handshake_timeout_s)));
    deadline.async_wait([&l, &attempt_over](boost::system::error_code e) {
      if (!e && !attempt_over) {
        boost::system::error_code ignored;
        l.sock.close(ignored);
      }
    });
    auto fail = [&](std::string why) {
      l.error = std::move(why);
      attempt_over = true;
      deadline.cancel();
      boost::system::error_code ignored;
      l.sock.close(ignored);
    };
    co_await l.sock.async_connect(c.endpoints[l.target], asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail("connect: " + ec.message());
      continue;
    }
    l.sock.set_option(tcp::no_delay(true), ec);
    co_await asio::async_write(l.sock, asio::buffer(c.handshakes[l.target * c.opt.rooms.size() + l.room]), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail("handshake write: " + ec.message());
      continue;
    }
    std::size_t header_end = std::string_view::npos;
    while (header_end == std::string_view::npos) {
      if (l.len == l.buf.size()) {
        if (l.buf.size() >= 65536) break;
        l.buf.resize(l.buf.size() * 2);
      }
      std::size_t n = co_await l.sock.async_read_some(asio::buffer(l.buf.data() + l.len, l.buf.size() - l.len),
                                                      asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      l.len += n;
      header_end = std::string_view(reinterpret_cast<const char*>(l.buf.data()), l.len).find("\r\n\r\n");
    }
    if (header_end == std::string_view::npos) {
      fail("handshake read: " + (ec ? ec.message() : std::string("no header end")));
      continue;
    }
    std::string_view head(reinterpret_cast<const char*>(l.buf.data()), header_end);
    if (head.rfind("HTTP/1.1 101", 0) != 0) {
      fail("handshake refused: " + std::string(head.substr(0, head.find("\r\n"))));
      continue;
    }
    attempt_over = true;
    deadline.cancel();
    const std::size_t consumed = header_end + 4;
    std::memmove(l.buf.data(), l.buf.data() + consumed, l.len - consumed);
    l.len -= consumed;
    ok = true;
  }
  c.shared.attempts_done.fetch_add(1, std::memory_order_relaxed);
  if (!ok) {
    c.shared.failed.fetch_add(1, std::memory_order_relaxed);
    if (!c.shared.first_error_reported.exchange(true)) {
      std::fprintf(stderr, "room_fanout: a listener gave up after %d attempts: %s\n", c.opt.max_attempts,
                   l.error.c_str());
    }
    co_return;
  }
  c.shared.connected.fetch_add(1, std::memory_order_relaxed);
  l.connected = true;
  l.open = true;
  std::int64_t ts = now_ns();
  for (;;) {
    if (l.len > 0 && !parse_frames(l, c, ts)) break;
    if (l.len == l.buf.size()) l.buf.resize(l.buf.size() * 2);
    boost::system::error_code ec;
    std::size_t n = co_await l.sock.async_read_some(asio::buffer(l.buf.data() + l.len, l.buf.size() - l.len),
                                                    asio::redirect_error(asio::use_awaitable, ec));
    ts = now_ns();
    if (ec) {
      l.error = ec.message();
      break;
    }
    l.len += n;
  }
  l.open = false;
  c.shared.closed.fetch_add(1, std::memory_order_relaxed);
}

// --- the command sender: blocking HTTP/1.1 keep-alive on the main thread -----------

struct CommandResult {
  std::size_t room = 0;
  std::int64_t t_send = 0;
  std::int64_t t_answer = 0;
  std::int64_t key = -1;  // -1: failed
};

class HttpClient {
 public:
  HttpClient(const Url& url, std::string token) : url_(url), token_(std::move(token)) {}

  // Sends one POST (a GET when body is empty); returns status (0 on
  // transport failure) and fills body. t_send is taken just before the
  // request is written.
  int get(std::string& answer, std::int64_t& t_send) { return post("", answer, t_send); }
  // The path the next requests go to, on the same server.
  void set_target(std::string target) { url_.target = std::move(target); }
  int post(const std::string& body, std::string& answer, std::int64_t& t_send) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!sock_.is_open() && !connect()) continue;
      std::string req = (body.empty() ? "GET " : "POST ") + url_.target + " HTTP/1.1\r\nHost: " + url_.host + ":" +
                        url_.port + "\r\n";
      if (!body.empty()) {
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
      }
      if (!token_.empty()) req += "Authorization: Bearer " + token_ + "\r\n";
      req += "\r\n" + body;
      boost::system::error_code ec;
      t_send = now_ns();
      asio::write(sock_, asio::buffer(req), ec);
      if (ec) {
        reset();
        continue;
      }
      int status = read_response(answer);
      if (status == 0) {
        reset();
        continue;
      }
      return status;
    }
    return 0;
  }

 private:
  bool connect() {
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    auto eps = resolver.resolve(url_.host, url_.port, ec);
    if (ec) return false;
    sock_ = tcp::socket(io_);
    asio::connect(sock_, eps, ec);
    if (ec) {
      std::this_thread::sleep_for(100ms);
      return false;
    }
    sock_.set_option(tcp::no_delay(true), ec);
    buf_.clear();
    return true;
  }
  void reset() {
    boost::system::error_code ignored;
    sock_.close(ignored);
    buf_.clear();
  }
  int read_response(std::string& answer) {
    boost::system::error_code ec;
    std::size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more(ec)) return 0;
    }
    std::string head = buf_.substr(0, header_end);
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    int status = 0;
    if (head.size() > 12) status = std::atoi(head.c_str() + 9);
    std::size_t length = 0;
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
      length = std::strtoull(lower.c_str() + p + 17, nullptr, 10);
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      die("chunked responses are not supported by this client");
    }
    const bool close = lower.find("\r\nconnection: close") != std::string::npos;
    while (buf_.size() < header_end + 4 + length) {
      if (!read_more(ec)) return 0;
    }
    answer = buf_.substr(header_end + 4, length);
    buf_.erase(0, header_end + 4 + length);
    if (close) reset();
    return status;
  }
  bool read_more(boost::system::error_code& ec) {
    char tmp[16384];
    std::size_t n = sock_.read_some(asio::buffer(tmp), ec);
    if (ec) return false;
    buf_.append(tmp, n);
    return true;
  }

  asio::io_context io_;
  tcp::socket sock_{io_};
  Url url_;
  std::string token_;
  std::string buf_;
};

// --- statistics ------------------------------------------------------------------

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
}

std::string fmt(double v, int decimals = 2) {
  if (std::isnan(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  const Url cmd_url = parse_url(with_room(opt.command_url, opt.rooms.front()));

  Shared shared;
  asio::io_context resolve_io;
  tcp::resolver resolver(resolve_io);
  Context ctx{opt, shared, {}, {}, "\"" + opt.key + "\":"};
  const std::size_t room_count = opt.rooms.size();
  for (const auto& text : opt.urls) {
    const Url server_url = parse_url(text);
    auto eps = resolver.resolve(server_url.host, server_url.port);
    if (eps.empty()) die("cannot resolve " + server_url.host);
    ctx.endpoints.push_back(*eps.begin());
    for (const auto& room : opt.rooms) {
      const Url ws_url = parse_url(with_room(text, room));
      ctx.handshakes.push_back("GET " + ws_url.target + " HTTP/1.1\r\nHost: " + ws_url.host + ":" + ws_url.port +
                               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n");
    }
  }
  std::vector<std::string> command_targets;
  for (const auto& room : opt.rooms) command_targets.push_back(parse_url(with_room(opt.command_url, room)).target);

  // One io_context per client thread; listener i lives on context i % threads.
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (int t = 0; t < opt.threads; ++t) {
    ios.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*ios.back()));
  }
  std::vector<std::unique_ptr<Listener>> listeners;
  listeners.reserve(opt.listeners);
  for (int i = 0; i < opt.listeners; ++i) {
    // A room's listeners spread over the client threads too.
    listeners.push_back(std::make_unique<Listener>(*ios[i / room_count % opt.threads]));
    listeners.back()->room = static_cast<std::size_t>(i) % room_count;
    listeners.back()->target = static_cast<std::size_t>(i) / room_count % opt.urls.size();
  }
  std::vector<std::thread> threads;
  for (auto& io : ios) threads.emplace_back([&io] { io->run(); });

  const long rss_before = read_rss_kib(opt.pids);
  const double cpu_before = read_cpu_ms(opt.pids);

  // Connect in batches: the next batch starts when this one is connected
  // (or has given up), so the server's accept queue never floods.
  // The whole join phase (connects, first messages, quiet) has one deadline;
  // past it the run ends without commands.
  const std::int64_t t_connect = now_ns();
  const std::int64_t join_deadline = t_connect + static_cast<std::int64_t>(opt.max_settle_s * 1e9);
  bool join_timed_out = false;
  for (int start = 0; start < opt.listeners && !join_timed_out; start += opt.batch) {
    const int end = std::min(opt.listeners, start + opt.batch);
    for (int i = start; i < end; ++i) {
      auto& l = *listeners[i];
      asio::co_spawn(l.io, run_listener(l, ctx), asio::detached);
    }
    while (shared.attempts_done.load() < end) {
      if (now_ns() >= join_deadline) {
        join_timed_out = true;
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  const std::int64_t t_connected = now_ns();
  if (shared.failed.load() > 0) {
    std::fprintf(stderr, "room_fanout: %d of %d listeners could not connect\n", shared.failed.load(), opt.listeners);
  }
  // Every connected listener has its first message...
  while (!join_timed_out && shared.ready.load() < shared.connected.load() - shared.closed.load()) {
    if (now_ns() >= join_deadline) join_timed_out = true;
    std::this_thread::sleep_for(1ms);
  }
  const std::int64_t t_ready = now_ns();
  // ... and the server has stopped talking (HiFi: presence messages after joins).
  const std::int64_t settle_ns = static_cast<std::int64_t>(opt.settle_ms) * 1'000'000;
  while (!join_timed_out) {
    auto now = now_ns();
    if (now - shared.last_message_ns.load() >= settle_ns) break;
    if (now >= join_deadline) join_timed_out = true;
    std::this_thread::sleep_for(5ms);
  }
  const std::int64_t t_settled = now_ns();
  const bool settled_in_time = !join_timed_out;
  if (join_timed_out) {
    std::fprintf(stderr,
                 "room_fanout: the joins did not finish within %.0f s (%d connected, %d with their first message); "
                 "no commands sent\n",
                 opt.max_settle_s, shared.connected.load(), shared.ready.load());
  }
  const long rss_after = read_rss_kib(opt.pids);
  const double cpu_joined = read_cpu_ms(opt.pids);
  std::uint64_t join_messages = 0;
  // Reading the counters of other threads: approximate, only for the report.
  const int ready = shared.ready.load();
  const int open_at_start = shared.connected.load() - shared.closed.load();
  std::vector<char> measured(opt.listeners, 0);
  std::vector<int> open_in_room(room_count, 0);
  for (int i = 0; i < opt.listeners; ++i) {
    measured[i] = listeners[i]->open.load() ? 1 : 0;
    open_in_room[listeners[i]->room] += measured[i];
  }

  // Commands, one every interval, over one keep-alive connection.
  HttpClient http(cmd_url, opt.token);
  if (!join_timed_out && open_at_start == 0) {
    std::fprintf(stderr, "room_fanout: no listener is left after the joins; no commands sent\n");
  }
  const int commands =
      join_timed_out || open_at_start == 0 ? 0 : std::max(1, static_cast<int>(std::llround(opt.seconds * 1000.0 / opt.interval_ms)));
  std::vector<CommandResult> results(commands);
  int failed_commands = 0;
  std::string first_failure;
  const double client_cpu_before = self_cpu_ms();
  const auto t0 = SteadyClock::now() + 10ms;
  std::vector<std::int64_t> max_key(room_count, -1);  // per room
  for (int k = 0; k < commands; ++k) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(static_cast<std::int64_t>(k) * opt.interval_ms));
    // Alternate between the first and the second half of the song, a little
    // further each time, so that every seek moves the position.
    const std::int64_t half = std::max<std::int64_t>(2, opt.max_position_ms / 2);
    const std::int64_t position = (k % 2 == 0 ? 0 : half) + (1000 + static_cast<std::int64_t>(k) * 10) % half;
    std::string body = "{\"type\":\"" + opt.body_type + "\",\"position_ms\":" + std::to_string(position) + "}";
    std::string answer;
    std::int64_t t_send = 0;
    const std::size_t room = static_cast<std::size_t>(k) % room_count;
    if (room_count > 1) http.set_target(command_targets[room]);
    results[k].room = room;
    int status = http.post(body, answer, t_send);
    results[k].t_send = t_send;
    results[k].t_answer = now_ns();
    auto key = status == 200 ? find_number(answer, ctx.quoted_key) : std::nullopt;
    if (!key) {
      ++failed_commands;
      if (first_failure.empty()) first_failure = "HTTP " + std::to_string(status) + ": " + answer.substr(0, 300);
      continue;
    }
    results[k].key = *key;
    max_key[room] = std::max(max_key[room], *key);
  }
  const double cpu_commands_end = read_cpu_ms(opt.pids);
  // Wait for the last command's messages.
  const std::int64_t drain_deadline = now_ns() + static_cast<std::int64_t>(opt.drain_s * 1e9);
  for (;;) {
    bool all = true;
    for (int i = 0; i < opt.listeners && all; ++i) {
      if (measured[i] && listeners[i]->open.load() && listeners[i]->last_key.load(std::memory_order_relaxed) < max_key[listeners[i]->room]) all = false;
    }
    if (all || now_ns() >= drain_deadline) break;
    std::this_thread::sleep_for(2ms);
  }
  const double cpu_after = read_cpu_ms(opt.pids);
  const double client_cpu_ms = self_cpu_ms() - client_cpu_before;

  // The floor: a read at the same cadence, on a connection of its own, the
  // listeners idle. An idle machine wakes up for each request; what that
  // costs here counts in every answer.
  std::vector<double> floor_ms;
  if (!opt.floor_url.empty() && commands > 0) {
    HttpClient floor_http(parse_url(with_room(opt.floor_url, opt.rooms.front())), opt.token);
    const auto f0 = SteadyClock::now() + 10ms;
    for (int k = 0; k < std::min(commands, 50); ++k) {
      std::this_thread::sleep_until(f0 + std::chrono::milliseconds(static_cast<std::int64_t>(k) * opt.interval_ms));
      std::string answer;
      std::int64_t t_send = 0;
      if (floor_http.get(answer, t_send) == 200) floor_ms.push_back((now_ns() - t_send) / 1e6);
    }
  }

  // Stop the client threads; from here on everything is read from this thread.
  for (auto& g : guards) g.reset();
  for (auto& io : ios) io->stop();
  for (auto& t : threads) t.join();

  // --- results ---
  std::unordered_map<std::int64_t, int> command_of_key;
  for (int k = 0; k < commands; ++k) {
    if (results[k].key >= 0) command_of_key[room_key(results[k].room, results[k].key)] = k;
  }
  std::vector<std::vector<double>> latencies(commands);
  const std::size_t url_count = opt.urls.size();
  // The same, per --url: latencies_by_url[u][k] (only filled with several URLs).
  std::vector<std::vector<std::vector<double>>> latencies_by_url(
      url_count > 1 ? url_count : 0, std::vector<std::vector<double>>(commands));
  std::vector<int> open_by_url(url_count, 0);
  std::uint64_t received = 0, state_bytes = 0, state_messages = 0;
  int closed_during = 0;
  // Why listeners went away (all of them, during joins or commands).
  std::map<std::string, int> close_causes;
  for (auto& lp : listeners) {
    auto& l = *lp;
    if (!l.connected || l.open.load()) continue;
    std::string cause = l.close_code ? "close " + std::to_string(l.close_code) +
                                           (l.close_reason.empty() ? "" : " '" + l.close_reason + "'")
                                     : "connection lost (" + l.error + ")";
    ++close_causes[cause];
  }
  std::string causes_text, causes_json;
  for (auto& [cause, count] : close_causes) {
    causes_text += (causes_text.empty() ? "" : ", ") + std::to_string(count) + "x " + cause;
    std::string escaped;
    for (char ch : cause) {
      if (ch == '"' || ch == '\\') escaped.push_back('\\');
      if (static_cast<unsigned char>(ch) >= 0x20) escaped.push_back(ch);
    }
    causes_json += (causes_json.empty() ? "" : ",") + std::string("\"") + escaped + "\":" + std::to_string(count);
  }
  const int closed_before_commands = shared.connected.load() - open_at_start;
  for (int i = 0; i < opt.listeners; ++i) {
    auto& l = *listeners[i];
    join_messages += l.other_messages;
    state_bytes += l.state_bytes;
    state_messages += l.state_messages;
    if (!measured[i]) continue;
    ++open_by_url[l.target];
    if (!l.open.load()) {
      ++closed_during;
    }
    for (auto [key, ts] : l.arrivals) {
      auto it = command_of_key.find(room_key(l.room, key));
      if (it == command_of_key.end()) continue;
      const double ms = (ts - results[it->second].t_send) / 1e6;
      latencies[it->second].push_back(ms);
      if (url_count > 1) latencies_by_url[l.target][it->second].push_back(ms);
      ++received;
    }
  }
  const int ok_commands = commands - failed_commands;
  std::uint64_t expected = 0;
  for (int k = 0; k < commands; ++k) {
    if (results[k].key >= 0) expected += static_cast<std::uint64_t>(open_in_room[results[k].room]);
  }
  std::vector<double> last_latency, median_latency, answer_ms;
  int incomplete_commands = 0;
  for (int k = 0; k < commands; ++k) {
    if (results[k].key < 0) continue;
    answer_ms.push_back((results[k].t_answer - results[k].t_send) / 1e6);
    auto& v = latencies[k];
    if (static_cast<int>(v.size()) < open_in_room[results[k].room]) ++incomplete_commands;
    if (v.empty()) continue;
    last_latency.push_back(*std::max_element(v.begin(), v.end()));
    median_latency.push_back(percentile(v, 0.5));
  }
  // Per URL: the last of that URL's listeners, per command.
  std::string per_url_text, per_url_json;
  for (std::size_t u = 0; u < latencies_by_url.size(); ++u) {
    std::vector<double> last;
    for (int k = 0; k < commands; ++k) {
      auto& v = latencies_by_url[u][k];
      if (results[k].key >= 0 && !v.empty()) last.push_back(*std::max_element(v.begin(), v.end()));
    }
    const double u50 = percentile(last, 0.5), u99 = percentile(last, 0.99);
    const double umax = last.empty() ? NAN : *std::max_element(last.begin(), last.end());
    per_url_text += "\n  url " + std::to_string(u) + " (" + std::to_string(open_by_url[u]) +
                    " listeners): last-listener latency p50 " + fmt(u50) + " ms, p99 " + fmt(u99) + " ms, max " +
                    fmt(umax) + " ms";
    per_url_json += std::string(u ? "," : "") + "{\"url_index\":" + std::to_string(u) +
                    ",\"listeners\":" + std::to_string(open_by_url[u]) + ",\"last_p50_ms\":" + fmt(u50, 3) +
                    ",\"last_p99_ms\":" + fmt(u99, 3) + ",\"last_max_ms\":" + fmt(umax, 3) + "}";
  }
  const double p50 = percentile(last_latency, 0.5);
  const double p99 = percentile(last_latency, 0.99);
  const double pmax = last_latency.empty() ? NAN : *std::max_element(last_latency.begin(), last_latency.end());
  const double med_p50 = percentile(median_latency, 0.5);
  const double med_p99 = percentile(median_latency, 0.99);
  const double answer_p50 = percentile(answer_ms, 0.5);
  const double answer_p99 = percentile(answer_ms, 0.99);
  const double floor_p50 = percentile(floor_ms, 0.5);
  const double floor_p99 = percentile(floor_ms, 0.99);
  const double kib_per_conn = (!join_timed_out && rss_before >= 0 && rss_after >= 0 && open_at_start > 0)
                                  ? static_cast<double>(rss_after - rss_before) / open_at_start
                                  : NAN;
  const double join_s = (t_ready - t_connect) / 1e9;
  const double settle_s = (t_settled - t_ready) / 1e9;
  const double server_cpu_commands_ms = (cpu_before >= 0) ? cpu_after - cpu_joined : NAN;
  const double server_cpu_join_ms = (cpu_before >= 0) ? cpu_joined - cpu_before : NAN;
  const double us_per_message = received > 0 ? server_cpu_commands_ms * 1000.0 / static_cast<double>(received) : NAN;
  const double avg_state_bytes = state_messages ? static_cast<double>(state_bytes) / state_messages : NAN;
  (void)cpu_commands_end;

  // The pace the commands went at (one sender: a slow answer holds the next).
  double commands_per_s = NAN;
  if (commands > 1 && results.back().t_send > results.front().t_send) {
    commands_per_s = (commands - 1) * 1e9 / static_cast<double>(results.back().t_send - results.front().t_send);
  }
  const std::string rooms_text =
      room_count > 1 ? " (" + std::to_string(room_count) + " rooms, a command every " +
                           std::to_string(static_cast<std::int64_t>(room_count) * opt.interval_ms) + " ms in each)"
                     : "";
  std::printf(
      "%s N=%d%s: last-listener latency p50 %s ms, p99 %s ms, max %s ms (median listener: p50 %s, p99 %s ms); "
      "messages %llu/%llu; commands %d ok, %d failed, %d incomplete, %s a second (answer p50 %s ms, p99 %s ms); "
      "server RSS %ld -> %ld KiB = %s KiB/conn; join %.2f s + settle %.2f s%s, %llu join messages; "
      "server CPU %s ms during commands (%s us/message), %s ms during joins; client CPU %s ms; "
      "state message %s bytes; %d listeners failed to connect, %d closed before the commands, %d during them%s%s\n",
      opt.label.c_str(), opt.listeners, rooms_text.c_str(), fmt(p50).c_str(), fmt(p99).c_str(), fmt(pmax).c_str(), fmt(med_p50).c_str(),
      fmt(med_p99).c_str(), static_cast<unsigned long long>(received), static_cast<unsigned long long>(expected),
      ok_commands, failed_commands, incomplete_commands, fmt(commands_per_s, 1).c_str(), fmt(answer_p50).c_str(), fmt(answer_p99).c_str(), rss_before, rss_after,
      fmt(kib_per_conn, 1).c_str(), join_s, settle_s, settled_in_time ? "" : " (JOIN TIMED OUT)",
      static_cast<unsigned long long>(join_messages), fmt(server_cpu_commands_ms, 0).c_str(),
      fmt(us_per_message, 2).c_str(), fmt(server_cpu_join_ms, 0).c_str(), fmt(client_cpu_ms, 0).c_str(),
      fmt(avg_state_bytes, 0).c_str(), shared.failed.load(), closed_before_commands, closed_during,
      causes_text.empty() ? "" : "; closes: ", causes_text.c_str());
  if (!floor_ms.empty()) {
    std::printf("%s N=%d: floor, GET %s every %d ms: p50 %s ms, p99 %s ms (%zu requests)\n", opt.label.c_str(),
                opt.listeners, opt.floor_url.substr(0, opt.floor_url.find('?')).c_str(), opt.interval_ms,
                fmt(floor_p50).c_str(), fmt(floor_p99).c_str(), floor_ms.size());
  }
  if (!per_url_text.empty()) std::printf("%s per URL:%s\n", opt.label.c_str(), per_url_text.c_str());
  if (!first_failure.empty()) std::printf("%s: first failed command: %s\n", opt.label.c_str(), first_failure.c_str());
  if (opt.json) {
    std::printf(
        "{\"label\":\"%s\",\"listeners\":%d,\"rooms\":%zu,\"connected\":%d,\"failed_listeners\":%d,\"ready\":%d,"
        "\"closed_before_commands\":%d,\"closed_during_run\":%d,\"close_causes\":{%s},\"retries\":%d,"
        "\"commands\":%d,\"failed_commands\":%d,\"incomplete_commands\":%d,\"commands_per_s\":%s,"
        "\"messages_received\":%llu,\"messages_expected\":%llu,"
        "\"last_p50_ms\":%s,\"last_p99_ms\":%s,\"last_max_ms\":%s,"
        "\"median_listener_p50_ms\":%s,\"median_listener_p99_ms\":%s,\"answer_p50_ms\":%s,\"answer_p99_ms\":%s,"
        "\"floor_p50_ms\":%s,\"floor_p99_ms\":%s,"
        "\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,\"kib_per_conn\":%s,"
        "\"join_s\":%s,\"settle_s\":%s,\"settled\":%s,\"join_messages\":%llu,"
        "\"server_cpu_commands_ms\":%s,\"server_cpu_us_per_message\":%s,\"server_cpu_join_ms\":%s,"
        "\"client_cpu_ms\":%s,\"state_message_bytes\":%s,\"connect_s\":%s,\"join_timeout_s\":%s%s%s%s}\n",
        opt.label.c_str(), opt.listeners, room_count, shared.connected.load(), shared.failed.load(), ready, closed_before_commands,
        closed_during, causes_json.c_str(), shared.retries.load(), commands, failed_commands, incomplete_commands,
        fmt(commands_per_s, 2).c_str(),
        static_cast<unsigned long long>(received), static_cast<unsigned long long>(expected), fmt(p50, 3).c_str(),
        fmt(p99, 3).c_str(), fmt(pmax, 3).c_str(), fmt(med_p50, 3).c_str(), fmt(med_p99, 3).c_str(),
        fmt(answer_p50, 3).c_str(), fmt(answer_p99, 3).c_str(), fmt(floor_p50, 3).c_str(), fmt(floor_p99, 3).c_str(),
        rss_before, rss_after, fmt(kib_per_conn, 2).c_str(),
        fmt(join_s, 3).c_str(),
        fmt(settle_s, 3).c_str(), settled_in_time ? "true" : "false", static_cast<unsigned long long>(join_messages),
        fmt(server_cpu_commands_ms, 0).c_str(), fmt(us_per_message, 3).c_str(), fmt(server_cpu_join_ms, 0).c_str(),
        fmt(client_cpu_ms, 0).c_str(), fmt(avg_state_bytes, 0).c_str(), fmt((t_connected - t_connect) / 1e9, 3).c_str(),
        fmt(opt.max_settle_s, 0).c_str(), per_url_json.empty() ? "" : ",\"per_url\":[", per_url_json.c_str(),
        per_url_json.empty() ? "" : "]");
  }
  std::fflush(stdout);
  // Reset (RST) rather than close: no TIME_WAIT left behind for the next run.
  for (auto& l : listeners) {
    if (l->sock.is_open()) {
      boost::system::error_code ignored;
      l->sock.set_option(asio::socket_base::linger(true, 0), ignored);
    }
  }
  std::_Exit(join_timed_out || open_at_start == 0 ? 4 : received == expected && failed_commands == 0 && shared.failed.load() == 0 ? 0 : 3);
}
