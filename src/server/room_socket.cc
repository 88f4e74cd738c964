// The per-room WebSocket: pushes every change of the room and its
// listeners, and answers clock-sync requests (docs/protocol.md).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/request_json.h"
#include "server/room_hub.h"
#include "common/text.h"
#include "room/room_state.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace websocket = beast::websocket;
namespace {

using asio::as_tuple;
using asio::use_awaitable;

constexpr std::size_t kMaxClientMessageBytes = 16 * 1024;      // larger: an error reply
constexpr std::size_t kHardMaxClientMessageBytes = 1 << 20;    // larger: the connection closes
constexpr std::size_t kMaxQueuedMessages = 256;                // per connection
constexpr std::size_t kMaxQueuedSeekData = 2;                  // of them seek data (up to 2 MiB each)
// A reconnect's replay must fit in the queue with room to spare for the live
// messages that arrive before the first write starts.
static_assert(kMaxQueuedMessages >= 2 * RoomHub::kDefaultHistoryPerRoom);
constexpr int kMaxClientMessagesPerSecond = 100;
constexpr std::size_t kMaxDeviceNameChars = 60;
constexpr auto kWebSocketIdleTimeout = std::chrono::seconds(20);
// Output rates a player may ask seek data for (as the seek_rate of a plan).
constexpr std::int64_t kMinSeekDataRate = 8000;
constexpr std::int64_t kMaxSeekDataRate = 384000;
// Larger messages (seek data) go through Beast's write, in pieces of this
// size; a frame HiFi writes itself has a header of at most 4 bytes.
constexpr std::size_t kMaxRawFrameBytes = 0xffff;

double precise_now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(system_clock::now().time_since_epoch()).count();
}

// The close frame for each reason the hub ends a subscription
// (docs/protocol.md): 1001 when the room or the server goes, 1008 (policy
// violation) when the credentials that opened it no longer hold.
websocket::close_reason close_reason_for(CloseReason why) {
  switch (why) {
    case CloseReason::kRoomDeleted: return {websocket::close_code::going_away, "the room was deleted"};
    case CloseReason::kShuttingDown: return {websocket::close_code::going_away, "the server is shutting down"};
    case CloseReason::kSignedOut: return {websocket::close_code::policy_error, "signed out"};
    case CloseReason::kAccountDisabled: return {websocket::close_code::policy_error, "account disabled"};
    case CloseReason::kAccountDeleted: return {websocket::close_code::policy_error, "account deleted"};
    case CloseReason::kMoved: return {websocket::close_code::service_restart, "this node is leaving: move on"};
  }
  return {websocket::close_code::going_away, ""};
}

json::object error_message(std::string_view code, std::string_view detail) {
  return {{"type", "error"}, {"code", code}, {"detail", detail}};
}

class WsSession;

// Starts the writes of one network thread's WebSockets that have new
// messages. A room's change reaches its 1,000 listeners as one post per
// network thread, not one per listener; the writes are started in turns of
// kPerTurn, each turn a handler of its own, so that what else the thread has
// to do (a command's answer, say) waits for one turn, not for the whole
// fan-out. One per io_context (an Asio service), which is one thread's: the
// sessions' handlers all run there, so a turn may start their writes itself.
class WriteKicks final : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  static constexpr std::size_t kPerTurn = 64;

  explicit WriteKicks(asio::execution_context& context)
      : asio::execution_context::service(context),
        executor_(static_cast<asio::io_context&>(context).get_executor()) {}

  // Any thread: `session`'s write_next() runs on its thread soon.
  void add(std::shared_ptr<WsSession> session) {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(session));
    if (posted_) return;
    posted_ = true;
    asio::post(executor_, [this] { turn(); });
  }

 private:
  void shutdown() override {
    std::lock_guard lock(mu_);
    pending_.clear();
    running_.clear();
  }
  void turn();

  asio::io_context::executor_type executor_;
  std::mutex mu_;
  std::vector<std::shared_ptr<WsSession>> pending_;  // under mu_
  bool posted_ = false;                              // under mu_: a turn is queued
  std::deque<std::shared_ptr<WsSession>> running_;   // the thread's own
};

// One WebSocket listener, once its handshake is done. The HTTP session and
// the handler that accepted it have ended by then: the session holds only
// what a listener needs (its stream, its place in the limits, the room it
// is in), so an idle listener costs a few KiB (docs/benchmarks.md).
//
// Reads and writes are chained callbacks on the connection's thread: one
// read in flight into a small chunk (a message is put together from its
// chunks), one write in flight from a bounded queue. The hub delivers from
// any thread, under mu_; the first message of a burst has WriteKicks start
// the writer, which in the clear writes each message as a frame of its own
// (write_frame) rather than through Beast's write.
class WsSession final : public RoomSubscriber, public std::enable_shared_from_this<WsSession> {
 public:
  struct Listener {
    Services& services;
    std::string room_id;
    std::string username;
    std::string client_address;
    std::shared_ptr<void> connection;  // RequestContext::connection
    PerKeyLimit::Slot websocket_slot;
  };

  explicit WsSession(net::Stream&& stream)
      : ws_(std::move(stream)),
        kicks_(asio::use_service<WriteKicks>(asio::query(ws_.get_executor(), asio::execution::context))),
        raw_writes_(ws_.next_layer().enable_raw_writes()) {}

  websocket::stream<net::Stream>& ws() { return ws_; }

  // Starts reading the listener's messages, until the connection ends; then
  // leaves the room and lets go of the connection's slots.
  void start(Listener listener) {
    listener_.emplace(std::move(listener));
    window_start_ = std::chrono::steady_clock::now();
    read_next();
  }

  void deliver(SharedMessage message) override { enqueue(std::move(message), false); }
  void deliver_binary(SharedMessage message) override { enqueue(std::move(message), true); }

  void enqueue(SharedMessage message, bool binary) {
    std::lock_guard lock(mu_);
    if (closing_) return;
    if (queue_.size() - queue_head_ >= kMaxQueuedMessages) {
      // A consumer this slow would hold back memory forever: drop it.
      closing_ = true;
      clear_queue();
      asio::post(ws_.get_executor(), [self = shared_from_this()] { self->abort_now(); });
      return;
    }
    if (binary) {
      // Seek data is worth its megabytes only for the latest jumps: a
      // client that does not keep up keeps the newest few queued.
      std::size_t queued = 0;
      for (auto i = queue_head_; i < queue_.size(); ++i) queued += queue_[i].binary ? 1 : 0;
      for (auto i = queue_head_; queued >= kMaxQueuedSeekData && i < queue_.size();) {
        if (queue_[i].binary) {
          queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
          --queued;
        } else {
          ++i;
        }
      }
    }
    queue_.push_back({std::move(message), binary});
    if (!writing_) {
      writing_ = true;
      kicks_.add(shared_from_this());
    }
  }

  void close(CloseReason why) override {
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      closing_ = true;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this(), why] {
      // Let queued messages (such as "deleted") go out first.
      self->close_after_writes_ = true;
      self->close_reason_ = close_reason_for(why);
      std::lock_guard lock(self->mu_);
      if (!self->writing_) self->close_now(self->close_reason_);
    });
  }

  // A reply to this client only (time sync, errors); same queue and bound.
  void send_own(const json::object& o) { deliver(std::make_shared<const std::string>(json::serialize(o))); }

 private:
  friend class WriteKicks;

  struct Outgoing {
    SharedMessage message;
    bool binary = false;  // seek data; the rest is JSON text
  };

  // Queued messages are queue_[queue_head_...]; the vector is emptied (and
  // its memory given back after a burst) whenever the writer catches up,
  // and the sent ones are dropped from its front when they are the half of
  // it, so a writer that never quite catches up does not grow it forever.
  void clear_queue() {
    queue_.clear();
    queue_head_ = 0;
    if (queue_.capacity() > 16) queue_.shrink_to_fit();
  }

  void write_next() {
    for (;;) {
      Outgoing next;
      {
        std::lock_guard lock(mu_);
        if (queue_head_ == queue_.size()) {
          clear_queue();
          writing_ = false;
          if (close_after_writes_) close_now(close_reason_);
          return;
        }
        next = std::move(queue_[queue_head_++]);
        if (queue_head_ >= 64 && 2 * queue_head_ >= queue_.size()) {
          queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_));
          queue_head_ = 0;
        }
      }
      // Beast's own write of a ping or pong may be in flight: then this
      // message goes through Beast too, which writes one after the other.
      // So does a large one (seek data): Beast sends it in pieces, and its
      // pings and pongs may go out between them.
      if (!raw_writes_ || next.message->size() > kMaxRawFrameBytes || !ws_.next_layer().raw_write_ready()) {
        write_with_beast(std::move(next));
        return;
      }
      if (!write_frame(std::move(next))) return;
    }
  }

  // Writes one message as one unmasked frame (RFC 6455, 5.2; no extension
  // is negotiated), around Beast: at once when the socket takes it all,
  // which is what a listener that keeps up does. The rest of a frame the
  // socket did not take goes out when it can; Beast's pings, pongs and close
  // wait for it (net::Stream). True when the frame went out whole. A failed
  // write drops the connection, as Beast's would have.
  bool write_frame(Outgoing next) {
    const std::size_t size = next.message->size();
    std::size_t header = 2;
    frame_header_[0] = static_cast<std::uint8_t>(0x80 | (next.binary ? 0x2 : 0x1));  // FIN, opcode
    if (size < 126) {
      frame_header_[1] = static_cast<std::uint8_t>(size);
    } else {  // up to kMaxRawFrameBytes: a 16-bit length
      frame_header_[1] = 126;
      frame_header_[2] = static_cast<std::uint8_t>(size >> 8);
      frame_header_[3] = static_cast<std::uint8_t>(size);
      header = 4;
    }
    const std::array<asio::const_buffer, 2> frame{asio::buffer(frame_header_.data(), header),
                                                  asio::buffer(*next.message)};
    auto& stream = ws_.next_layer();
    beast::error_code ec;
    const std::size_t sent = stream.write_raw(frame.data(), frame.size(), ec);
    if (ec) {
      drop_after_failed_write();
      return false;
    }
    if (sent == header + size) return true;
    std::vector<asio::const_buffer> rest;
    if (sent < header) {
      rest = {asio::buffer(frame_header_.data() + sent, header - sent), frame[1]};
    } else {
      rest = {frame[1] + (sent - header)};
    }
    stream.async_write_raw(std::move(rest), [self = shared_from_this(), message = std::move(next.message)](
                                                beast::error_code ec) {
      if (ec) {
        self->drop_after_failed_write();
        return;
      }
      self->write_next();
    });
    return false;
  }

  void write_with_beast(Outgoing next) {
    ws_.binary(next.binary);
    SharedMessage message = std::move(next.message);
    ws_.async_write(asio::buffer(*message),
                    [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                      if (ec) {
                        self->write_failed();
                        return;
                      }
                      self->write_next();
                    });
  }

  void write_failed() {
    std::lock_guard lock(mu_);
    closing_ = true;
    clear_queue();
    writing_ = false;
  }

  // Beast closes a connection whose write failed; a frame of HiFi's own
  // needs the same.
  void drop_after_failed_write() {
    write_failed();
    abort_now();
  }

  void read_next() {
    ws_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) {
      finish();
      return;
    }
    message_bytes_ += n;
    // A message over the limit is read to its end (Beast closes the
    // connection past read_message_max) and answered with an error; only
    // its first bytes are kept.
    if (message_bytes_ <= kMaxClientMessageBytes) incoming_.append(chunk_.data(), n);
    if (!ws_.is_message_done()) {
      read_next();
      return;
    }
    on_message();
    incoming_.clear();
    if (incoming_.capacity() > 2 * chunk_.size()) incoming_.shrink_to_fit();
    message_bytes_ = 0;
    read_next();
  }

  void on_message() {
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      messages_in_window_ = 0;
    }
    if (++messages_in_window_ > kMaxClientMessagesPerSecond) {
      send_own(error_message("rate-limited", "more than 100 messages a second; slow down"));
      return;
    }
    if (!ws_.got_text()) {
      send_own(error_message("binary-frame", "only text frames holding JSON are understood"));
      return;
    }
    if (message_bytes_ > kMaxClientMessageBytes) {
      send_own(error_message("too-large", "messages may be at most 16384 bytes"));
      return;
    }
    const double received_at = precise_now_ms();
    JsonLimits limits;
    limits.max_bytes = kMaxClientMessageBytes;
    auto message = parse_json_object(incoming_, limits);
    if (!message) {
      send_own(error_message("invalid-json", message.status().message()));
      return;
    }
    auto* type = message->if_contains("type");
    if (!type || !type->is_string()) {
      send_own(error_message("invalid-message", "every message needs a string 'type'"));
      return;
    }
    if (type->as_string() == "time") {
      auto* t0 = message->if_contains("t0");
      if (!t0 || !t0->is_number()) {
        send_own(error_message("invalid-message", "'time' needs a numeric 't0'"));
        return;
      }
      // The command leads this listener needs ride on its time requests
      // (without fetch_lead_ms, the one lead serves for both); the hub
      // hears of them only when they change.
      auto lead_of = [&](const char* name) -> std::optional<std::int64_t> {
        const auto* lead = message->if_contains(name);
        if (lead == nullptr || !lead->is_number()) return std::nullopt;
        const double value = lead->to_number<double>();
        if (!std::isfinite(value)) return 0;
        return static_cast<std::int64_t>(
            std::clamp(std::ceil(value), 0.0, static_cast<double>(RoomHub::kMaxReportedLeadMs)));
      };
      if (const auto held = lead_of("lead_ms")) {
        const room::CommandLeads leads{*held, lead_of("fetch_lead_ms").value_or(*held)};
        // A player that takes seek data says at what output rate, and the
        // lead it needs when the data comes with the news.
        SeekDataWish wish;
        if (const auto* rate = message->if_contains("seek_data_rate"); rate && rate->is_int64() &&
            rate->as_int64() >= kMinSeekDataRate && rate->as_int64() <= kMaxSeekDataRate) {
          wish.rate = static_cast<int>(rate->as_int64());
          wish.lead_ms = lead_of("seek_data_lead_ms").value_or(leads.fetched_ms);
          // Up to 10 s before the position.
          if (const auto* behind = message->if_contains("seek_data_behind_frames");
              behind && behind->is_int64() && behind->as_int64() > 0) {
            wish.behind_frames = static_cast<std::uint64_t>(std::min<std::int64_t>(behind->as_int64(), 10 * rate->as_int64()));
          }
        }
        if (leads != reported_leads_ || wish != reported_wish_) {
          reported_leads_ = leads;
          reported_wish_ = wish;
          listener_->services.hub.report_lead(listener_->room_id, this, leads, wish);
        }
      }
      send_own({{"type", "time"}, {"t0", *t0}, {"t1", received_at}, {"t2", precise_now_ms()}});
    } else if (type->as_string() == "ping") {
      send_own({{"type", "pong"}});
    } else {
      send_own(error_message("unknown-type", "unknown message type '" + std::string(type->as_string()) + "'"));
    }
  }

  // The connection has ended (closed by either side, timed out, aborted).
  void finish() {
    auto& l = *listener_;
    l.services.hub.leave(l.room_id, this);
    l.services.metrics.websocket_closed();
    spdlog::info("{} '{}' left room {}", l.client_address, l.username, l.room_id);
    listener_.reset();  // the connection's slots, now
  }

  // Drops the connection without the closing handshake. For a client that
  // does not read: a close frame would wait behind the write that is stuck
  // on its full TCP window, and the connection (and its place among the
  // room's listeners) would linger until the idle timeout. Closing the
  // socket cancels the pending read, so the listener leaves the room now.
  void abort_now() {
    closed_ = true;
    beast::get_lowest_layer(ws_).close();
  }

  void close_now(const websocket::close_reason& reason) {
    if (closed_) return;
    closed_ = true;
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {});
  }

  websocket::stream<net::Stream> ws_;
  WriteKicks& kicks_;  // of the connection's thread
  // Messages go out as frames written here (write_frame), not through
  // Beast's write: in the clear, not through TLS.
  const bool raw_writes_;
  std::array<std::uint8_t, 4> frame_header_{};  // of the frame being written
  std::mutex mu_;
  std::vector<Outgoing> queue_;
  std::size_t queue_head_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  // Strand-only state.
  bool closed_ = false;
  bool close_after_writes_ = false;
  websocket::close_reason close_reason_;
  std::optional<Listener> listener_;  // from start() until the connection ends
  std::array<char, 256> chunk_;       // one read's bytes
  std::string incoming_;              // the message being read
  std::size_t message_bytes_ = 0;     // its size so far
  room::CommandLeads reported_leads_;  // what the hub knows of this listener's leads
  SeekDataWish reported_wish_;         // and of the seek data it takes
  std::chrono::steady_clock::time_point window_start_;
  int messages_in_window_ = 0;
};

void WriteKicks::turn() {
  {
    std::lock_guard lock(mu_);
    for (auto& session : pending_) running_.push_back(std::move(session));
    pending_.clear();
  }
  for (std::size_t n = 0; n < kPerTurn && !running_.empty(); ++n) {
    auto session = std::move(running_.front());
    running_.pop_front();
    session->write_next();
  }
  std::lock_guard lock(mu_);
  if (running_.empty() && pending_.empty()) {
    posted_ = false;
    return;
  }
  asio::post(executor_, [this] { turn(); });
}

awaitable<Reply> room_websocket(RequestContext& ctx) {
  const auto room_id = ctx.params[0];
  if (!websocket::is_upgrade(ctx.parser.get())) {
    co_return problem(ctx, http::status::upgrade_required, "upgrade-required", "Upgrade required",
                      "this endpoint speaks WebSocket; connect with a WebSocket client");
  }
  const User user = *ctx.user;
  if (!ctx.services.rooms.get_for(room_id, user.id)) {
    co_return not_found_problem(ctx, "no room with id '" + room_id + "'");
  }
  // Counted before the upgrade, so a refusal is a plain HTTP answer; held
  // for as long as the listener is connected.
  auto websocket_slot = ctx.services.websocket_slots.try_acquire(user.id);
  if (!websocket_slot) {
    co_return problem(ctx, http::status::too_many_requests, "too-many-websockets", "Too many WebSockets",
                      "you have " + std::to_string(ctx.services.websocket_slots.limit()) +
                          " room connections open on this server, the most one user may have; close one "
                          "(another tab or device) and try again");
  }
  // The device this connection plays on, when the client names it.
  ListenerInfo who{user.id, user.username, {}};
  if (auto device = ctx.query("device")) {
    if (!room::is_device_id(*device)) {
      co_return bad_request(ctx, "device must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'");
    }
    auto name = clean_user_text(ctx.query("device_name").value_or(""), kMaxDeviceNameChars, "device_name",
                                /*allow_empty=*/true);
    if (!name) co_return bad_request(ctx, name.status().message());
    who.devices.push_back({*device, name->empty() ? *device : *name});
  }
  std::optional<Revision> since;
  if (auto s = ctx.query("since")) {
    char* end = nullptr;
    auto v = std::strtoll(s->c_str(), &end, 10);
    if (s->empty() || *end != '\0' || v < 0) co_return bad_request(ctx, "since must be a revision number");
    since = v;
  }

  http::request<http::empty_body> upgrade{ctx.parser.get().base()};
  ctx.upgraded = true;
  ctx.status = 101;
  auto session = std::make_shared<WsSession>(std::move(ctx.stream));
  auto& ws = session->ws();
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = kWebSocketIdleTimeout;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  // The pieces Beast sends a large message in (seek data); unmasked and
  // uncompressed, it keeps no buffer of that size.
  ws.write_buffer_bytes(kMaxRawFrameBytes);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "hifi"); }));
  ws.read_message_max(kHardMaxClientMessageBytes);
  auto [accept_ec] = co_await ws.async_accept(upgrade, as_tuple(use_awaitable));
  if (accept_ec) co_return std::nullopt;
  // This connection now lives for as long as the listener does: give back
  // what the HTTP side no longer needs.
  upgrade = {};
  ctx.buffer.clear();
  ctx.buffer.shrink_to_fit();

  if (auto s = ctx.services.hub.join(room_id, session, who, since, session_token_hash(ctx.token)); !s) {
    session->send_own(error_message("not-found", s.message()));
    session->close(CloseReason::kRoomDeleted);
    co_return std::nullopt;
  }
  // The session may have ended after the router checked it and before the
  // hub knew this connection, where the account watch could not close it.
  auto still = co_await offload(ctx, [&] { return ctx.services.accounts.authenticate(ctx.token); });
  if (!still && still.status().code() == Code::kUnauthenticated) session->close(CloseReason::kSignedOut);
  spdlog::info("{} '{}' joined room {}", ctx.client_address, user.username, room_id);
  ctx.services.metrics.websocket_opened();
  // From here the session lives on its own; this handler, and the HTTP
  // session that called it, end now.
  session->start({ctx.services, room_id, user.username, ctx.client_address, ctx.connection,
                  std::move(*websocket_slot)});
  co_return std::nullopt;
}

}  // namespace

std::vector<Route> room_socket_routes() {
  return {
      // Browsers cannot set headers on a WebSocket: they may pass the token
      // as the access_token query parameter instead.
      {http::verb::get, "/api/v1/rooms/{}/ws", Auth::kBearerOrQueryToken, room_websocket},
  };
}

}  // namespace hifi::http_internal
