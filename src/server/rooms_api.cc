// Rooms over HTTP: create, list, get and delete rooms, and send them
// commands; and the room the caller's Subsonic jukebox drives
// (room/jukebox.h). The WebSocket that pushes every change is in room_socket.cc.
#include <spdlog/spdlog.h>

#include "server/api_json.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"
#include "server/room_hub.h"
#include "common/random.h"
#include "room/jukebox.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

constexpr std::size_t kMaxSongsPerAdd = 1000;

// The song a room is at, when it is still in the library.
std::optional<Song> current_song(Services& services, const room::Room& room) {
  const auto* item = room.state.current_item();
  if (item == nullptr) return std::nullopt;
  auto song = services.catalog.get(item->song_id);
  if (!song) return std::nullopt;
  return std::move(*song);
}

// A room as the API shows it, with its listeners and current song.
json::object room_full(Services& services, const room::Room& room) {
  auto song = current_song(services, room);
  return api_json::room_full(room, services.hub.listeners(room.id), song ? &*song : nullptr);
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
  for (const auto& room : ctx.services.rooms.list()) {
    // Personal rooms are reached through /api/v1/me/room, never listed.
    if (room.is_private) continue;
    auto song = current_song(ctx.services, room);
    items.push_back(api_json::room_summary(room, ctx.services.hub.listeners(room.id), song ? &*song : nullptr));
  }
  co_return json_response(ctx, http::status::ok, {{"items", std::move(items)}});
}

awaitable<Reply> get_room(RequestContext& ctx) {
  auto room = ctx.services.rooms.get_for(ctx.params[0], ctx.user->id);
  if (!room) co_return problem_from_status(ctx, room.status());
  co_return json_response(ctx, http::status::ok, room_full(ctx.services, *room));
}

awaitable<Reply> personal_room(RequestContext& ctx) {
  auto room = co_await offload(ctx, [&] { return ctx.services.rooms.personal_room(*ctx.user); });
  if (!room) co_return problem_from_status(ctx, room.status());
  co_return json_response(ctx, http::status::ok, room_full(ctx.services, *room));
}

awaitable<Reply> delete_room(RequestContext& ctx) {
  const auto& id = ctx.params[0];
  if (!ctx.user->is_admin()) {
    if (auto room = ctx.services.rooms.get_for(id, ctx.user->id); !room) {
      co_return problem_from_status(ctx, room.status());
    }
  }
  auto s = co_await offload(ctx, [&] { return ctx.services.rooms.remove(id, *ctx.user); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("room {} deleted by '{}'", id, ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

// Builds a state-machine command from a request body; a problem on bad
// input. The room service resolves the songs of an "add".
std::variant<room::Command, StringResponse> parse_command(RequestContext& ctx, const json::object& body) {
  JsonFields fields(body);
  room::Command c;
  c.by = ctx.user->id;
  auto type = fields.required_string("type");
  if (!type) return bad_request(ctx, type.status().message());
  auto parsed_type = room::parse_command_type(*type);
  if (!parsed_type) {
    return bad_request(ctx, "unknown command type '" + *type +
                                "'; use add, remove, move, clear, play, pause, seek, skip, previous, repeat, "
                                "select, shuffle or speaker");
  }
  c.type = *parsed_type;
  auto fail = [&](const Status& s) { return bad_request(ctx, s.message()); };
  // The preconditions of skip, previous and seek.
  auto optional_item = [&]() -> std::optional<StringResponse> {
    auto item = fields.optional_string("item_id");
    if (!item) return fail(item.status());
    c.expected_item = item->value_or("");
    auto selection = fields.optional_int("selection");
    if (!selection) return fail(selection.status());
    c.expected_selection = *selection;
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
        c.songs.push_back({std::string(v.as_string()), 0});
      }
      if (auto* at = body.if_contains("at"); at && !at->is_null()) {
        if (at->is_string() && at->as_string() == "end") c.at = room::Command::kAtEnd;
        else if (at->is_string() && at->as_string() == "next") c.at = room::Command::kAtNext;
        else if (at->is_int64() && at->as_int64() >= 0) c.at = at->as_int64();
        else if (at->is_uint64()) return bad_request(ctx, "'at' is too large");
        else return bad_request(ctx, "'at' must be \"end\", \"next\" or a queue index");
      }
      auto replace = fields.optional_bool("replace");
      if (!replace) return fail(replace.status());
      auto play = fields.optional_bool("play");
      if (!play) return fail(play.status());
      c.replace = replace->value_or(false);
      c.play = play->value_or(false);
      break;
    }
    case room::Command::Type::kShuffle:
      c.seed = random_u64();
      break;
    case room::Command::Type::kSpeaker: {
      auto device = fields.required_string("device");
      if (!device) return fail(device.status());
      c.device = *device;  // checked by the state machine
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
    case room::Command::Type::kSelect: {
      auto item = fields.required_string("item_id");
      if (!item) return fail(item.status());
      auto pos = fields.optional_int("position_ms");
      if (!pos) return fail(pos.status());
      c.item_id = *item;
      c.position_ms = pos->value_or(0);
      break;
    }
    case room::Command::Type::kRepeat: {
      auto mode = fields.required_string("mode");
      if (!mode) return fail(mode.status());
      auto parsed_mode = room::parse_repeat_mode(*mode);
      if (!parsed_mode) return bad_request(ctx, "mode must be off, all or one");
      c.mode = *parsed_mode;
      break;
    }
    default:
      break;
  }
  return c;
}

awaitable<Reply> room_command(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  if (!ctx.services.rooms.get_for(ctx.params[0], ctx.user->id)) {
    co_return not_found_problem(ctx, "no room with id '" + ctx.params[0] + "'");
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
                        {{"state", api_json::room_state(current, ctx.services.hub.listeners(current.id))}});
    }
    co_return problem_from_status(ctx, room.status());
  }
  co_return json_response(ctx, http::status::ok, room_full(ctx.services, *room));
}

// {"room_id": the chosen room, or null for the default, "room_name", "gain"}.
json::object jukebox_json(Services& services, const room::JukeboxChoice& choice) {
  auto room = choice.room_id.empty() ? Result<room::Room>(not_found("none")) : services.rooms.get(choice.room_id);
  if (room && room->is_private) room = not_found("none");  // the personal room is the default
  json::object o;
  o["room_id"] = room ? json::value(room->id) : json::value(nullptr);
  o["room_name"] = room ? json::value(room->name) : json::value(nullptr);
  o["gain"] = choice.gain;
  return o;
}

awaitable<Reply> get_jukebox(RequestContext& ctx) {
  auto choice = co_await offload(
      ctx, [&] { return room::Jukeboxes(ctx.services.store, ctx.services.rooms).choice(ctx.user->id); });
  if (!choice) co_return problem_from_status(ctx, choice.status());
  co_return json_response(ctx, http::status::ok, jukebox_json(ctx.services, *choice));
}

awaitable<Reply> put_jukebox(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(room_id, fields.required_string("room_id"));
  if (room_id.size() > 64) co_return not_found_problem(ctx, "no room with that id");
  auto choice = co_await offload(
      ctx, [&] { return room::Jukeboxes(ctx.services.store, ctx.services.rooms).choose(*ctx.user, room_id); });
  if (!choice) co_return problem_from_status(ctx, choice.status());
  co_return json_response(ctx, http::status::ok, jukebox_json(ctx.services, *choice));
}

}  // namespace

std::vector<Route> room_routes() {
  using V = http::verb;
  return {
      {V::post, "/api/v1/rooms", Auth::kBearer, create_room},
      {V::get, "/api/v1/rooms", Auth::kBearer, list_rooms},
      {V::get, "/api/v1/rooms/{}", Auth::kBearer, get_room},
      {V::delete_, "/api/v1/rooms/{}", Auth::kBearer, delete_room},
      {V::post, "/api/v1/rooms/{}/commands", Auth::kBearer, room_command},
      {V::get, "/api/v1/me/room", Auth::kBearer, personal_room},
      {V::get, "/api/v1/me/jukebox", Auth::kBearer, get_jukebox},
      {V::put, "/api/v1/me/jukebox", Auth::kBearer, put_jukebox},
  };
}

}  // namespace hifi::http_internal
