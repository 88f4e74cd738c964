#include "client/room_client.h"

#include <boost/asio.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>
#include <chrono>
#include <optional>

#include "client/audio_sink.h"
#include "common/endpoint.h"
#include "common/tcp_connect.h"
#include "net/tls.h"

namespace hifi::client {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

const RoomItem* RoomView::current_item() const {
  for (const auto& item : queue) {
    if (item.id == current) return &item;
  }
  return nullptr;
}

const RoomItem* RoomView::next_item() const {
  for (std::size_t i = 0; i < queue.size(); ++i) {
    if (queue[i].id == current) {
      if (i + 1 < queue.size()) return &queue[i + 1];
      if (repeat == "all") return &queue.front();
      return nullptr;
    }
  }
  return nullptr;
}

const RoomItem* RoomView::item_after(const RoomItem& item) const {
  if (repeat == "one") return &item;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    if (queue[i].id == item.id) {
      if (i + 1 < queue.size()) return &queue[i + 1];
      if (repeat == "all") return &queue.front();
      return nullptr;
    }
  }
  return nullptr;
}

const RoomItem* RoomView::item_at_time(double server_ms, double* position) const {
  const auto* item = current_item();
  if (!item || !playing) return nullptr;
  // Before a start still to come (a timed command seen without the view
  // before it): nothing yet.
  double pos = static_cast<double>(position_ms) + server_ms - static_cast<double>(position_at);
  if (pos < 0) return nullptr;
  if (item->duration_ms > 0 && pos >= static_cast<double>(item->duration_ms)) {
    pos -= static_cast<double>(item->duration_ms);
    item = item_after(*item);
    if (!item) return nullptr;
  }
  *position = std::min(pos, static_cast<double>(item->duration_ms));
  return item;
}

const RoomView& RoomView::at(double server_ms) const {
  const RoomView* v = this;
  while (v->before && server_ms < static_cast<double>(v->position_at)) v = v->before.get();
  return *v;
}

std::optional<double> RoomView::next_change_after(double server_ms) const {
  std::optional<double> next;
  // Changes along the chain are in time order: the earliest is the last
  // one past `server_ms` seen walking back.
  for (const RoomView* v = this; v->before; v = v->before.get()) {
    if (static_cast<double>(v->position_at) > server_ms) next = static_cast<double>(v->position_at);
  }
  return next;
}

double RoomView::position_at_time(double server_ms) const {
  const auto* item = current_item();
  if (!item) return 0;
  double pos = static_cast<double>(position_ms);
  if (playing) pos += server_ms - static_cast<double>(position_at);
  return std::clamp(pos, 0.0, static_cast<double>(item->duration_ms));
}

struct RoomClient::Impl {
  std::vector<std::string> servers;  // client thread only, once started
  std::optional<std::vector<std::string>> next_servers;  // guarded by mu
  std::string token;
  std::string room_id;
  RoomClientOptions options;
  asio::io_context ioc;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::size_t server_index = 0;
  // Where a draining server told this client to go ("move"; guarded by mu).
  std::string move_to;
  // The next session is a move: keep the clock estimate until it measures.
  bool moving = false;
  // When the current session's handshake completed (client thread only).
  std::optional<std::chrono::steady_clock::time_point> connected_at;

  mutable std::mutex mu;
  RoomView view;
  ClockSync clock;  // 3000 samples: 25 minutes, or 5 on a jittery path
  double change_latency_ms = -1;  // set_change_latency_ms(); < 0: none
  int seek_data_rate = 0;         // set_seek_data_rate(); 0: none asked
  std::uint64_t seek_data_behind = 0;
  // Seek data received, oldest first, with when it came.
  std::deque<std::pair<std::shared_ptr<const SeekData>, std::chrono::steady_clock::time_point>> seek_data;
  std::string status = "connecting";
  std::string server;
  std::function<void()> on_change;
  RoomClient* owner = nullptr;

  void changed() {
    std::function<void()> cb;
    {
      std::lock_guard lock(mu);
      cb = on_change;
    }
    if (cb) cb();
  }

  void set_status(std::string text) {
    {
      std::lock_guard lock(mu);
      status = std::move(text);
    }
    changed();
  }

  static void apply_state(RoomView& v, const json::object& state) {
    v.queue.clear();
    for (const auto& item : state.at("queue").as_array()) {
      const auto& o = item.as_object();
      v.queue.push_back({std::string(o.at("id").as_string()), std::string(o.at("song_id").as_string()),
                         o.at("duration_ms").to_number<std::int64_t>()});
    }
    v.current = state.at("current").is_null() ? "" : std::string(state.at("current").as_string());
    v.playing = state.at("playing").as_bool();
    v.position_ms = state.at("position_ms").to_number<std::int64_t>();
    v.position_at = state.at("position_at").to_number<std::int64_t>();
    v.repeat = std::string(state.at("repeat").as_string());
    apply_listeners(v, state);
  }

  // From a state or a presence message.
  static void apply_listeners(RoomView& v, const json::object& o) {
    v.listeners.clear();
    for (const auto& l : o.at("listeners").as_array()) v.listeners.emplace_back(l.at("username").as_string());
    // Servers from before listings were bounded list everyone.
    const auto* count = o.if_contains("listener_count");
    v.listener_count = count && count->is_int64() && count->as_int64() >= 0
                           ? static_cast<std::size_t>(count->as_int64())
                           : v.listeners.size();
  }

  // Most changes a view keeps pending (a few timed commands in a row).
  static constexpr int kMaxPending = 16;

  // After `view` was replaced by a state: when it takes effect later than
  // now (server time), the view before it holds until then. Views whose
  // changes are past drop what came before them. Called under mu.
  void keep_pending(const RoomView& previous, double local_now) {
    view.before.reset();
    const auto offset = clock.offset_ms();
    if (!offset || !previous.valid) return;
    const double now = local_now + *offset;
    if (static_cast<double>(view.position_at) <= now) return;
    // Copy the chain, cut where its changes are past or too deep.
    std::vector<RoomView> chain;
    for (const RoomView* v = &previous; v && static_cast<int>(chain.size()) < kMaxPending; v = v->before.get()) {
      chain.push_back(*v);
      chain.back().before.reset();
      if (static_cast<double>(v->position_at) <= now) break;
    }
    std::shared_ptr<const RoomView> link;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      it->before = std::move(link);
      link = std::make_shared<const RoomView>(std::move(*it));
    }
    view.before = std::move(link);
  }

  // The leads this listener needs (see RoomClient::set_change_latency_ms):
  // {lead_ms, fetch_lead_ms}; nullopt without a change latency or a clock
  // estimate. Called under mu.
  struct Leads {
    double held = 0;
    double fetched = 0;
    double with_seek_data = 0;
  };
  std::optional<Leads> needed_leads_ms() const {
    if (change_latency_ms < 0) return std::nullopt;
    const auto slow_trip = clock.round_trip_quantile_ms(0.9);
    if (!slow_trip) return std::nullopt;
    // The news takes half a slow round trip. The margin covers the
    // server's fan-out and this client's thread wake-ups. A change whose
    // audio must be fetched first (a seek) needs a slow round trip more
    // and kFetchMs for the fetcher to wake, open and decode (when that is
    // not enough, the player holds the old position until the audio is
    // ready or the instant has come, and joins the timeline when it can).
    // Rounded up to 5 ms so that small wobbles are not reported.
    constexpr double kMarginMs = 10;
    constexpr double kFetchMs = 50;
    auto step = [](double ms) { return std::ceil(ms / 5) * 5; };
    const double lead = change_latency_ms + *slow_trip / 2 + kMarginMs;
    return Leads{step(lead), step(lead + *slow_trip + kFetchMs), step(lead + RoomClient::kSeekDataMs)};
  }

  // A binary message: seek data (a JSON header line, then the multipart
  // body). Anything else binary is ignored.
  void handle_binary(std::string text) {
    const auto newline = text.find('\n');
    if (newline == std::string::npos || newline > 4096) return;
    boost::system::error_code ec;
    auto header = json::parse(std::string_view(text).substr(0, newline), ec);
    if (ec || !header.is_object()) return;
    const auto& h = header.as_object();
    auto data = std::make_shared<SeekData>();
    try {
      if (h.at("type").as_string() != "seek_data") return;
      data->song_id = std::string(h.at("song_id").as_string());
      data->frame = h.at("frame").to_number<std::uint64_t>();
      data->rate = h.at("rate").to_number<int>();
      data->etag = std::string(h.at("etag").as_string());
      data->content_type = std::string(h.at("content_type").as_string());
    } catch (const std::exception&) {
      return;  // a header we do not understand
    }
    text.erase(0, newline + 1);
    data->body = std::move(text);
    std::lock_guard lock(mu);
    seek_data.emplace_back(std::move(data), std::chrono::steady_clock::now());
    while (seek_data.size() > RoomClient::kKeptSeekData) seek_data.pop_front();
  }

  // Applies one server message; returns false for messages that end the session.
  bool handle(const std::string& text, double received_at) {
    boost::system::error_code ec;
    auto parsed = json::parse(text, ec);
    if (ec || !parsed.is_object()) return true;
    const auto& m = parsed.as_object();
    auto* type_value = m.if_contains("type");
    if (!type_value || !type_value->is_string()) return true;
    const std::string type(type_value->as_string());
    try {
      std::lock_guard lock(mu);
      if (type == "time") {
        clock.add_sample(m.at("t0").to_number<double>(), m.at("t1").to_number<double>(),
                         m.at("t2").to_number<double>(), received_at);
        return true;
      }
      // The view this message replaces, for a change that is still to come.
      RoomView previous = view;
      if (type == "snapshot") {
        view.valid = true;
        view.revision = m.at("revision").to_number<std::int64_t>();
        view.name = std::string(m.at("room").at("name").as_string());
        apply_state(view, m.at("state").as_object());
        view.last_command = "snapshot";
      } else if (type == "state") {
        auto revision = m.at("revision").to_number<std::int64_t>();
        if (revision <= view.revision) return true;  // already applied
        view.revision = revision;
        apply_state(view, m.at("state").as_object());
        view.last_command = std::string(m.at("command").at("type").as_string());
      } else if (type == "presence") {
        apply_listeners(view, m);
      } else if (type == "move") {
        // The server is draining; it closes the connection next.
        std::string to(m.at("to").as_string());
        if (Endpoint::parse(to)) move_to = std::move(to);
        return true;
      } else if (type == "deleted") {
        view.deleted = true;
        return false;
      } else {
        return true;
      }
      if (type == "snapshot" || type == "state") keep_pending(previous, received_at);
    } catch (const std::exception&) {
      return true;  // a message we do not understand changes nothing
    }
    changed();
    return true;
  }

  awaitable<void> session(const std::string& base) {
    auto endpoint = Endpoint::parse(base);
    if (!endpoint) throw std::runtime_error("unsupported server URL " + base);
    auto executor = co_await asio::this_coro::executor;
    // wss:// for an https:// server (its certificate checked).
    websocket::stream<net::Stream> ws(net::client_stream(executor, *endpoint));
    co_await async_connect_endpoint(beast::get_lowest_layer(ws), *endpoint, 3s, use_awaitable);
    if (ws.next_layer().is_tls()) {
      beast::get_lowest_layer(ws).expires_after(5s);
      co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, use_awaitable);
    }
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = 5s;
    timeouts.idle_timeout = 15s;
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    const std::string bearer = "Bearer " + token;
    ws.set_option(websocket::stream_base::decorator(
        [bearer](websocket::request_type& req) { req.set(http::field::authorization, bearer); }));
    std::string target = endpoint->target("/api/v1/rooms/" + room_id + "/ws");
    {
      std::lock_guard lock(mu);
      if (view.valid) target += "?since=" + std::to_string(view.revision);
    }
    co_await ws.async_handshake(endpoint->host_header(), target, use_awaitable);
    {
      std::lock_guard lock(mu);
      // Another server means another clock: measure afresh (after a move,
      // to another node of the same cluster, with the old estimate kept
      // until then, so that playback does not pause for it).
      if (server != base) moving ? clock.carry_over() : clock.reset();
      moving = false;
      server = base;
    }
    connected_at = std::chrono::steady_clock::now();
    owner->connected_ = true;
    set_status("connected to " + base);

    // Time requests: a quick burst to get a first estimate, then steadily.
    auto pinger = [&]() -> awaitable<void> {
      asio::steady_timer timer(executor);
      for (int i = 0;; ++i) {
        json::object request{{"type", "time"}, {"t0", wall_clock_ms()}};
        {
          std::lock_guard lock(mu);
          if (auto leads = needed_leads_ms()) {
            request["lead_ms"] = leads->held;
            request["fetch_lead_ms"] = leads->fetched;
            if (seek_data_rate > 0) {
              request["seek_data_rate"] = seek_data_rate;
              request["seek_data_behind_frames"] = seek_data_behind;
              request["seek_data_lead_ms"] = leads->with_seek_data;
            }
          }
        }
        auto text = json::serialize(request);
        co_await ws.async_write(asio::buffer(text), use_awaitable);
        bool jittery = false;
        {
          std::lock_guard lock(mu);
          jittery = clock.round_trip_spread_ms() > options.jittery_spread_ms;
        }
        timer.expires_after(i < options.time_burst ? options.time_burst_interval
                            : jittery               ? std::min(options.time_interval_jittery, options.time_interval)
                                                    : options.time_interval);
        co_await timer.async_wait(use_awaitable);
      }
    };
    ws.read_message_max(RoomClient::kMaxMessageBytes);
    auto reader = [&]() -> awaitable<void> {
      beast::flat_buffer buffer;
      for (;;) {
        buffer.clear();
        co_await ws.async_read(buffer, use_awaitable);
        const double received_at = wall_clock_ms();
        if (ws.got_binary()) {
          handle_binary(beast::buffers_to_string(buffer.data()));
        } else if (!handle(beast::buffers_to_string(buffer.data()), received_at)) {
          co_return;
        }
        // A large message (seek data) leaves no large buffer behind.
        if (buffer.capacity() > 64 * 1024) buffer.shrink_to_fit();
      }
    };
    // The session ends as soon as either of them ends, however it ends; the
    // other is cancelled. (Not `reader() || pinger()`: that operator waits
    // for one to *succeed*, so a failed read — the server died — went
    // unnoticed until the pinger's next write failed too, up to a time
    // interval later.)
    auto [order, read_error, ping_error] =
        co_await asio::experimental::make_parallel_group(asio::co_spawn(executor, reader(), asio::deferred),
                                                         asio::co_spawn(executor, pinger(), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), use_awaitable);
    // Whichever ended first says why; the other only reports its cancellation.
    if (auto first = order[0] == 0 ? read_error : ping_error) std::rethrow_exception(first);
  }

  // Takes the list set_servers() left, carrying on after `last_base`.
  void adopt_next_servers(const std::string& last_base) {
    std::lock_guard lock(mu);
    if (!next_servers) return;
    servers = std::move(*next_servers);
    next_servers.reset();
    auto it = std::find(servers.begin(), servers.end(), last_base);
    server_index = it == servers.end() ? 0 : static_cast<std::size_t>(it - servers.begin()) + 1;
  }

  awaitable<void> run() {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer backoff(executor);
    auto delay = options.backoff_initial;
    // Attempts in a row that did not give a stable connection.
    std::size_t failures = 0;
    std::string last_base;
    while (!stopping) {
      adopt_next_servers(last_base);
      const std::string base = servers[server_index % servers.size()];
      last_base = base;
      std::string error;
      connected_at.reset();
      try {
        co_await session(base);
        error = "the server closed the connection";
      } catch (const boost::system::system_error& e) {
        error = e.code().message();  // what() adds the source location
      } catch (const std::exception& e) {
        error = e.what();
      }
      owner->connected_ = false;
      {
        std::lock_guard lock(mu);
        if (view.deleted) {
          status = "the room was deleted";
          break;
        }
      }
      if (stopping) break;
      std::string to;
      {
        std::lock_guard lock(mu);
        to = std::exchange(move_to, std::string());
        moving = !to.empty();
      }
      if (!to.empty()) {
        // The server drained and named where to go: go there at once.
        auto it = std::find(servers.begin(), servers.end(), to);
        if (it == servers.end()) it = servers.insert(servers.end(), to);
        server_index = static_cast<std::size_t>(it - servers.begin());
        set_status("moving to " + to + " (" + base + " is leaving the cluster)");
        failures = 0;
        delay = options.backoff_initial;
        continue;
      }
      set_status("connection to " + base + " lost (" + error + "); retrying");
      // The next known server gets the next attempt.
      ++server_index;
      if (connected_at && std::chrono::steady_clock::now() - *connected_at >= options.stable_after) {
        // A working connection is gone (its server died or went away): move
        // on at once, and start backing off afresh should that fail too.
        failures = 0;
        delay = options.backoff_initial;
        continue;
      }
      // Back off once every server has been tried in a row.
      if (++failures % servers.size() == 0) {
        backoff.expires_after(delay);
        co_await backoff.async_wait(asio::as_tuple(use_awaitable));
        delay = std::min(delay * 2, options.backoff_max);
      }
    }
    changed();
  }
};

RoomClient::RoomClient(std::vector<std::string> servers, std::string token, std::string room_id,
                       RoomClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->servers = std::move(servers);
  impl_->token = std::move(token);
  impl_->room_id = std::move(room_id);
  impl_->options = options;
  impl_->owner = this;
}

RoomClient::~RoomClient() { stop(); }

void RoomClient::set_seek_data_rate(int rate, std::uint64_t behind_frames) {
  std::lock_guard lock(impl_->mu);
  impl_->seek_data_rate = std::max(0, rate);
  impl_->seek_data_behind = behind_frames;
}

std::shared_ptr<const SeekData> RoomClient::seek_data(const std::string& song_id, std::uint64_t frame,
                                                      int rate) const {
  std::lock_guard lock(impl_->mu);
  const auto now = std::chrono::steady_clock::now();
  for (auto it = impl_->seek_data.rbegin(); it != impl_->seek_data.rend(); ++it) {
    const auto& d = *it->first;
    if (d.song_id == song_id && d.frame == frame && d.rate == rate && now - it->second < kSeekDataKeep) {
      return it->first;
    }
  }
  return nullptr;
}

void RoomClient::set_change_latency_ms(double latency_ms) {
  std::lock_guard lock(impl_->mu);
  impl_->change_latency_ms = latency_ms;
}

void RoomClient::set_servers(std::vector<std::string> servers) {
  if (servers.empty()) return;
  std::lock_guard lock(impl_->mu);
  impl_->next_servers = std::move(servers);
}

void RoomClient::start() {
  asio::co_spawn(impl_->ioc, impl_->run(), asio::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

void RoomClient::stop() {
  impl_->stopping = true;
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

RoomView RoomClient::view() const {
  std::lock_guard lock(impl_->mu);
  return impl_->view;
}

std::optional<double> RoomClient::clock_offset_ms() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clock.offset_ms();
}

std::optional<double> RoomClient::settled_clock_offset_ms() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clock.settled() ? impl_->clock.offset_ms() : std::nullopt;
}

std::string RoomClient::server() const {
  std::lock_guard lock(impl_->mu);
  return impl_->server;
}

std::string RoomClient::status() const {
  std::lock_guard lock(impl_->mu);
  return impl_->status;
}

void RoomClient::set_on_change(std::function<void()> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->on_change = std::move(callback);
}

}  // namespace hifi::client
