// Rooms over HTTP: REST commands under /api/v1/rooms and the per-room
// WebSocket that pushes every change, presence and time-sync answers.
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>

#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"
#include "server/room_hub.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace websocket = beast::websocket;
namespace {

using asio::as_tuple;
using asio::use_awaitable;

constexpr std::size_t kMaxSongsPerAdd = 1000;
constexpr std::size_t kMaxClientMessageBytes = 16 * 1024;      // larger: an error reply
constexpr std::size_t kHardMaxClientMessageBytes = 1 << 20;    // larger: the connection closes
constexpr std::size_t kMaxQueuedMessages = 256;                // per connection
// A reconnect's replay must fit in the queue with room to spare for the live
// messages that arrive before the first write starts.
static_assert(kMaxQueuedMessages >= 2 * RoomHub::kDefaultHistoryPerRoom);
constexpr int kMaxClientMessagesPerSecond = 100;
constexpr auto kWebSocketIdleTimeout = std::chrono::seconds(20);

double precise_now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(system_clock::now().time_since_epoch()).count();
}

json::object room_summary(Services& services, const room::Room& room) {
  auto listeners = services.hub.listeners(room.id);
  json::value now_playing = nullptr;
  if (const auto* item = room.state.current_item()) {
    json::object np{{"item_id", item->id}, {"song_id", item->song_id}, {"playing", room.state.playing}};
    if (auto song = services.catalog.get(item->song_id)) {
      np["title"] = song->title;
      np["artist"] = song->artist;
    }
    now_playing = std::move(np);
  }
  return {{"id", room.id},
          {"name", room.name},
          {"owner", room.owner},
          {"created_at", room.created_at},
          {"revision", room.revision},
          {"listener_count", listeners.size()},
          {"now_playing", std::move(now_playing)}};
}

json::object room_full(Services& services, const room::Room& room) {
  auto o = room_summary(services, room);
  o["state"] = RoomHub::public_state(room, services.hub.listeners(room.id));
  return o;
}

awaitable<Reply> create_room(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(name, fields.required_string("name"));
  auto room = co_await offload(ctx, [&] { return ctx.services.rooms.create(name, ctx.user->id); });
  if (!room) co_return problem_from_status(ctx, room.status());
  spdlog::info("room {} '{}' created by '{}'", room->id, room->name, ctx.user->username);
  auto res = json_response(ctx, http::status::created, room_full(ctx.services, *room));
  res.set(http::field::location, "/api/v1/rooms/" + room->id);
  co_return res;
}

awaitable<Reply> list_rooms(RequestContext& ctx) {
  json::array items;
  for (const auto& room : ctx.services.rooms.list()) items.push_back(room_summary(ctx.services, room));
  co_return json_response(ctx, http::status::ok, {{"items", std::move(items)}});
}

awaitable<Reply> get_room(RequestContext& ctx) {
  auto room = ctx.services.rooms.get(ctx.params[0]);
  if (!room) co_return problem_from_status(ctx, room.status());
  co_return json_response(ctx, http::status::ok, room_full(ctx.services, *room));
}

awaitable<Reply> delete_room(RequestContext& ctx) {
  auto room = ctx.services.rooms.get(ctx.params[0]);
  if (!room) co_return problem_from_status(ctx, room.status());
  if (room->owner != ctx.user->id && !ctx.user->is_admin()) {
    co_return problem(ctx, http::status::forbidden, "forbidden", "Forbidden",
                      "only the room's owner or an admin may delete it");
  }
  auto s = co_await offload(ctx, [&] { return ctx.services.rooms.remove(room->id); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("room {} deleted by '{}'", room->id, ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

// Builds a state-machine command from a request body; a problem on bad input.
std::variant<room::Command, StringResponse> parse_command(RequestContext& ctx, const json::object& body) {
  JsonFields fields(body);
  room::Command c;
  c.by = ctx.user->id;
  auto type = fields.required_string("type");
  if (!type) return bad_request(ctx, type.status().message());
  if (!room::parse_command_type(*type, c.type)) {
    return bad_request(ctx, "unknown command type '" + *type +
                                "'; use add, remove, move, clear, play, pause, seek, skip, previous or repeat");
  }
  auto fail = [&](const Status& s) { return bad_request(ctx, s.message()); };
  auto optional_item = [&]() -> std::optional<StringResponse> {
    auto item = fields.optional_string("item_id");
    if (!item) return fail(item.status());
    c.expected_item = item->value_or("");
    return std::nullopt;
  };
  switch (c.type) {
    case room::Command::Type::kAdd: {
      auto* ids = body.if_contains("song_ids");
      if (!ids || !ids->is_array() || ids->as_array().empty()) {
        return bad_request(ctx, "add needs 'song_ids', a non-empty array of song ids");
      }
      if (ids->as_array().size() > kMaxSongsPerAdd) {
        return bad_request(ctx, "add at most " + std::to_string(kMaxSongsPerAdd) + " songs at once");
      }
      for (const auto& v : ids->as_array()) {
        if (!v.is_string()) return bad_request(ctx, "'song_ids' must contain strings");
        auto song = ctx.services.catalog.get(std::string(v.as_string()));
        if (!song) {
          return problem(ctx, http::status::not_found, "not-found", "Not found",
                         "no song with id '" + std::string(v.as_string()) + "'");
        }
        c.songs.push_back({song->id, song->duration_ms});
      }
      if (auto* at = body.if_contains("at"); at && !at->is_null()) {
        if (at->is_string() && at->as_string() == "end") c.at = room::Command::kAtEnd;
        else if (at->is_string() && at->as_string() == "next") c.at = room::Command::kAtNext;
        else if (at->is_int64() && at->as_int64() >= 0) c.at = at->as_int64();
        else if (at->is_uint64()) return bad_request(ctx, "'at' is too large");
        else return bad_request(ctx, "'at' must be \"end\", \"next\" or a queue index");
      }
      break;
    }
    case room::Command::Type::kRemove: {
      auto item = fields.required_string("item_id");
      if (!item) return fail(item.status());
      c.item_id = *item;
      break;
    }
    case room::Command::Type::kMove: {
      auto item = fields.required_string("item_id");
      if (!item) return fail(item.status());
      auto to = fields.required_int("to");
      if (!to) return fail(to.status());
      c.item_id = *item;
      c.to = *to;
      break;
    }
    case room::Command::Type::kSeek: {
      auto pos = fields.required_int("position_ms");
      if (!pos) return fail(pos.status());
      c.position_ms = *pos;
      if (auto p = optional_item()) return std::move(*p);
      break;
    }
    case room::Command::Type::kSkip:
    case room::Command::Type::kPrevious:
      if (auto p = optional_item()) return std::move(*p);
      break;
    case room::Command::Type::kRepeat: {
      auto mode = fields.required_string("mode");
      if (!mode) return fail(mode.status());
      if (!room::parse_repeat_mode(*mode, c.mode)) return bad_request(ctx, "mode must be off, all or one");
      break;
    }
    default:
      break;
  }
  return c;
}

awaitable<Reply> room_command(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  if (!ctx.services.rooms.get(ctx.params[0])) {
    co_return problem(ctx, http::status::not_found, "not-found", "Not found",
                      "no room with id '" + ctx.params[0] + "'");
  }
  auto parsed = parse_command(ctx, body);
  if (auto* p = std::get_if<StringResponse>(&parsed)) co_return std::move(*p);
  auto& command = std::get<room::Command>(parsed);
  room::Room current;
  auto room = co_await offload(ctx, [&] { return ctx.services.rooms.execute(ctx.params[0], command, &current); });
  if (!room) {
    if (room.status().code() == Code::kFailedPrecondition) {
      // Tell the client what the state is now, so it can catch up.
      co_return problem(ctx, http::status::conflict, "precondition-failed", "Precondition failed",
                        room.status().message(),
                        {{"state", RoomHub::public_state(current, ctx.services.hub.listeners(current.id))}});
    }
    co_return problem_from_status(ctx, room.status());
  }
  co_return json_response(ctx, http::status::ok, room_full(ctx.services, *room));
}

// One WebSocket listener. Reads run in the handler coroutine; writes are
// chained callbacks on the same strand, one in flight, from a bounded queue.
class WsSession final : public RoomSubscriber, public std::enable_shared_from_this<WsSession> {
 public:
  explicit WsSession(beast::tcp_stream&& stream) : ws_(std::move(stream)) {}

  websocket::stream<beast::tcp_stream>& ws() { return ws_; }

  void deliver(SharedMessage message) override {
    std::lock_guard lock(mu_);
    if (closing_) return;
    if (queue_.size() >= kMaxQueuedMessages) {
      // A consumer this slow would hold back memory forever: drop it.
      closing_ = true;
      queue_.clear();
      asio::post(ws_.get_executor(), [self = shared_from_this()] { self->abort_now(); });
      return;
    }
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
    }
  }

  void close(bool room_deleted) override {
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      closing_ = true;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this(), room_deleted] {
      // Let queued messages (such as "deleted") go out first.
      self->close_after_writes_ = true;
      self->close_reason_ = room_deleted ? "the room was deleted" : "the server is shutting down";
      std::lock_guard lock(self->mu_);
      if (!self->writing_) {
        self->close_now(websocket::close_code::going_away, self->close_reason_);
      }
    });
  }

  // A reply to this client only (time sync, errors); same queue and bound.
  void send_own(const json::object& o) { deliver(std::make_shared<const std::string>(json::serialize(o))); }

 private:
  void write_next() {
    SharedMessage message;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) {
        writing_ = false;
        if (close_after_writes_) close_now(websocket::close_code::going_away, close_reason_);
        return;
      }
      message = queue_.front();
      queue_.pop_front();
    }
    ws_.text(true);
    ws_.async_write(asio::buffer(*message),
                    [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                      if (ec) {
                        std::lock_guard lock(self->mu_);
                        self->closing_ = true;
                        self->queue_.clear();
                        self->writing_ = false;
                        return;
                      }
                      self->write_next();
                    });
  }

  // Drops the connection without the closing handshake. For a client that
  // does not read: a close frame would wait behind the write that is stuck
  // on its full TCP window, and the connection (and its place among the
  // room's listeners) would linger until the idle timeout. Closing the
  // socket cancels the pending read, so the handler leaves the room now.
  void abort_now() {
    closed_ = true;
    beast::get_lowest_layer(ws_).close();
  }

  void close_now(websocket::close_code code, const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    ws_.async_close(websocket::close_reason(code, reason),
                    [self = shared_from_this()](beast::error_code) {});
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::mutex mu_;
  std::deque<SharedMessage> queue_;
  bool writing_ = false;
  bool closing_ = false;
  // Strand-only state.
  bool closed_ = false;
  bool close_after_writes_ = false;
  std::string close_reason_;
};

json::object error_message(std::string_view code, std::string_view detail) {
  return {{"type", "error"}, {"code", code}, {"detail", detail}};
}

awaitable<Reply> room_websocket(RequestContext& ctx) {
  const auto room_id = ctx.params[0];
  if (!websocket::is_upgrade(ctx.parser.get())) {
    co_return problem(ctx, http::status::upgrade_required, "upgrade-required", "Upgrade required",
                      "this endpoint speaks WebSocket; connect with a WebSocket client");
  }
  // Browsers cannot set headers on a WebSocket: they may pass the token as
  // the access_token query parameter instead (RFC 6750, section 2.3).
  std::string token;
  auto auth = ctx.header()[http::field::authorization];
  if (auth.size() > 7 && beast::iequals(auth.substr(0, 7), "Bearer ")) token = std::string(auth.substr(7));
  else token = ctx.query("access_token").value_or("");
  if (token.empty()) {
    co_return problem(ctx, http::status::unauthorized, "unauthenticated", "Authentication required",
                      "send 'Authorization: Bearer <token>' or ?access_token=<token>");
  }
  auto user = co_await offload(ctx, [&] { return ctx.services.accounts.authenticate(token); });
  if (!user) co_return problem_from_status(ctx, user.status());
  if (!ctx.services.rooms.get(room_id)) {
    co_return problem(ctx, http::status::not_found, "not-found", "Not found",
                      "no room with id '" + room_id + "'");
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

  if (auto s = ctx.services.hub.join(room_id, session, {user->id, user->username}, since); !s) {
    session->send_own(error_message("not-found", s.message()));
    session->close(true);
    co_return std::nullopt;
  }
  spdlog::info("{} '{}' joined room {}", ctx.client_address, user->username, room_id);
  ctx.services.metrics.websocket_opened();

  beast::flat_buffer buffer;
  auto window_start = std::chrono::steady_clock::now();
  int messages_in_window = 0;
  for (;;) {
    buffer.clear();
    auto [ec, n] = co_await ws.async_read(buffer, as_tuple(use_awaitable));
    if (ec) break;
    const double received_at = precise_now_ms();
    auto now = std::chrono::steady_clock::now();
    if (now - window_start >= std::chrono::seconds(1)) {
      window_start = now;
      messages_in_window = 0;
    }
    if (++messages_in_window > kMaxClientMessagesPerSecond) {
      session->send_own(error_message("rate-limited", "more than 100 messages a second; slow down"));
      continue;
    }
    if (!ws.got_text()) {
      session->send_own(error_message("binary-frame", "only text frames holding JSON are understood"));
      continue;
    }
    if (n > kMaxClientMessageBytes) {
      session->send_own(error_message("too-large", "messages may be at most 16384 bytes"));
      continue;
    }
    auto text = beast::buffers_to_string(buffer.data());
    JsonLimits limits;
    limits.max_bytes = kMaxClientMessageBytes;
    auto message = parse_json_object(text, limits);
    if (!message) {
      session->send_own(error_message("invalid-json", message.status().message()));
      continue;
    }
    auto* type = message->if_contains("type");
    if (!type || !type->is_string()) {
      session->send_own(error_message("invalid-message", "every message needs a string 'type'"));
      continue;
    }
    if (type->as_string() == "time") {
      auto* t0 = message->if_contains("t0");
      if (!t0 || !t0->is_number()) {
        session->send_own(error_message("invalid-message", "'time' needs a numeric 't0'"));
        continue;
      }
      session->send_own({{"type", "time"}, {"t0", *t0}, {"t1", received_at}, {"t2", precise_now_ms()}});
    } else if (type->as_string() == "ping") {
      session->send_own({{"type", "pong"}});
    } else {
      session->send_own(error_message("unknown-type", "unknown message type '" +
                                                          std::string(type->as_string()) + "'"));
    }
  }
  ctx.services.hub.leave(room_id, session.get());
  ctx.services.metrics.websocket_closed();
  spdlog::info("{} '{}' left room {}", ctx.client_address, user->username, room_id);
  co_return std::nullopt;
}

}  // namespace

std::vector<Route> room_routes() {
  using V = http::verb;
  return {
      {V::post, "/api/v1/rooms", true, create_room},
      {V::get, "/api/v1/rooms", true, list_rooms},
      {V::get, "/api/v1/rooms/{}", true, get_room},
      {V::delete_, "/api/v1/rooms/{}", true, delete_room},
      {V::post, "/api/v1/rooms/{}/commands", true, room_command},
      {V::get, "/api/v1/rooms/{}/ws", false, room_websocket},
  };
}

}  // namespace hifi::http_internal
