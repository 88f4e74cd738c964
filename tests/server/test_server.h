// An in-process hifi-server on 127.0.0.1:0 with its own data directory, and
// a small synchronous HTTP client for integration tests.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "blob/blob_store.h"
#include "cluster/cluster_node.h"
#include "common/clock.h"
#include "common/random.h"
#include "library/accounts.h"
#include "library/catalog.h"
#include "room/room_service.h"
#include "server/config.h"
#include "server/node.h"
#include "server/room_hub.h"
#include "store/meta_store.h"
#include "support/eventually.h"

namespace hifi::testing {

namespace beast = boost::beast;
namespace http = beast::http;

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  boost::json::value json() const { return boost::json::parse(body); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class TestServer {
 public:
  explicit TestServer(std::filesystem::path dir, ServerConfig config = {},
                      AccountOptions account_options = {})
      : dir_(std::move(dir)), config_(std::move(config)), account_options_(account_options) {
    // The account options' registration mode and token lifetime are what
    // the tests mean; the node takes them from the config.
    config_.registration = account_options_.registration;
    // In-process tests register many users from 127.0.0.1: no per-address
    // limit unless a test sets one (ApiTest.RegistrationsPerAddressAreLimited).
    config_.registrations_per_hour =
        account_options_.registrations_per_address_per_hour == AccountOptions{}.registrations_per_address_per_hour
            ? 0
            : account_options_.registrations_per_address_per_hour;
    config_.token_ttl_ms = account_options_.token_ttl_ms;
    init_crypto();
    start();
  }
  // A node of an in-process cluster: its data in `dir`, its metadata in
  // `shared_store` (not owned; every node of the cluster passes the same
  // one). Give each node the same config.cluster_secret.
  TestServer(std::filesystem::path dir, MetaStore& shared_store, ServerConfig config)
      : dir_(std::move(dir)), config_(std::move(config)), shared_store_(&shared_store) {
    init_crypto();
    start();
  }
  ~TestServer() { stop(); }

  void start() {
    // As main() does: sendfile(2) to a client that went away mid-body (a
    // player dropping the rest of a range after a seek) raises SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    config_.listen_host = "127.0.0.1";
    config_.listen_port = 0;
    config_.data_dir = dir_.string();
    if (config_.threads == 0) config_.threads = 2;
    NodeOptions options;
    options.shared_store = shared_store_;
    options.clock = &clock_;
    options.room_clock = &room_clock();
    options.accounts = account_options_;
    options.rooms = room_options_;
    auto node = Node::open(config_, options);
    if (!node) throw std::runtime_error(node.status().to_string());
    node_ = std::move(*node);
    if (auto s = node_->start(); !s) throw std::runtime_error(s.to_string());
  }

  void stop() { node_.reset(); }

  void restart() {
    stop();
    start();
  }

  // Rooms, signed URLs and auto-advance run on the real clock when asked to
  // (tests of playback timing), else on the manual one.
  void use_system_clock_for_rooms(bool on) { system_clock_for_rooms_ = on; }
  const Clock& room_clock() const {
    return system_clock_for_rooms_ ? static_cast<const Clock&>(SystemClock::instance()) : clock_;
  }
  room::RoomService& rooms() { return node_->rooms(); }
  cluster::ClusterNode& cluster() { return node_->cluster(); }
  Node& node() { return *node_; }

  std::uint16_t port() const { return node_->port(); }
  ManualClock& clock() { return clock_; }
  Catalog& catalog() { return node_->catalog(); }
  BlobStore& blobs() { return node_->blobs(); }
  const std::filesystem::path& dir() const { return dir_; }

  HttpResult request(http::verb method, const std::string& target, const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {}) const {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port()));
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port()));
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == http::verb::post || method == http::verb::put ||
        method == http::verb::patch) {
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ULL << 30);
    if (method == http::verb::head) parser.skip(true);
    http::read(stream, buffer, parser);
    HttpResult out;
    auto& res = parser.get();
    out.status = res.result_int();
    for (auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    out.body = res.body();
    beast::error_code ec;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    return out;
  }

  // Sends raw bytes and returns whatever the server answers before closing.
  std::string raw(const std::string& bytes) const {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket socket(ioc);
    socket.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port()));
    boost::asio::write(socket, boost::asio::buffer(bytes));
    std::string out;
    char buf[4096];
    boost::system::error_code ec;
    for (;;) {
      auto n = socket.read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }

 private:
  std::filesystem::path dir_;
  ServerConfig config_;
  AccountOptions account_options_;
  ManualClock clock_{1'800'000'000'000};
  bool system_clock_for_rooms_ = false;
  room::RoomServiceOptions room_options_;
  MetaStore* shared_store_ = nullptr;
  std::unique_ptr<Node> node_;
};

// A mono 16-bit PCM WAV of a sine tone; different frequencies give
// different bytes.
inline std::string make_wav(double frequency_hz, double seconds = 0.5, int rate = 8000) {
  const auto frames = static_cast<std::uint32_t>(seconds * rate);
  std::string out;
  auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff); };
  auto u16 = [&](std::uint16_t v) { for (int i = 0; i < 2; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff); };
  out += "RIFF";
  u32(36 + frames * 2);
  out += "WAVEfmt ";
  u32(16);
  u16(1);
  u16(1);
  u32(static_cast<std::uint32_t>(rate));
  u32(static_cast<std::uint32_t>(rate) * 2);
  u16(2);
  u16(16);
  out += "data";
  u32(frames * 2);
  for (std::uint32_t i = 0; i < frames; ++i) {
    auto sample = static_cast<std::int16_t>(12000 * std::sin(2 * M_PI * frequency_hz * i / rate));
    u16(static_cast<std::uint16_t>(sample));
  }
  return out;
}

// make_wav() with a RIFF INFO chunk naming the title, artist and album
// (INAM, IART, IPRD), and any `extra` INFO fields (IGNR genre, ICRD year,
// IPRT track), which the upload probe reads as tags.
inline std::string make_tagged_wav(double frequency_hz, const std::string& title, const std::string& artist,
                                   const std::string& album,
                                   const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  auto wav = make_wav(frequency_hz);
  std::string info = "INFO";
  auto sub = [&](const char* id, const std::string& text) {
    std::string value = text + '\0';
    if (value.size() % 2 != 0) value += '\0';
    info += id;
    for (int i = 0; i < 4; ++i) info += static_cast<char>(((text.size() + 1) >> (8 * i)) & 0xff);
    info += value;
  };
  sub("INAM", title);
  sub("IART", artist);
  sub("IPRD", album);
  for (const auto& [id, text] : extra) sub(id.c_str(), text);
  std::string list = "LIST";
  for (int i = 0; i < 4; ++i) list += static_cast<char>((info.size() >> (8 * i)) & 0xff);
  wav += list + info;
  const auto riff_size = static_cast<std::uint32_t>(wav.size() - 8);
  for (int i = 0; i < 4; ++i) wav[4 + i] = static_cast<char>((riff_size >> (8 * i)) & 0xff);
  return wav;
}

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("hifi-test-" + name + "-" + std::to_string(::getpid()) + "-" + random_hex(4));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace hifi::testing
