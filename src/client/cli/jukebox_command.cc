// `hifi jukebox`: which room your Subsonic jukebox drives. A Subsonic app's
// jukebox mode (jukeboxControl) is a remote control for that room, so
// everyone listening to it hears what the app does. Without a choice the
// server makes a personal room, "<you>'s jukebox", on first use.
#include <boost/json.hpp>
#include <iostream>

#include "client/cli/commands.h"

namespace hifi::client {
namespace json = boost::json;
namespace {

int print_choice(CliContext& ctx, const json::value& v) {
  if (ctx.json) {
    std::cout << json::serialize(v) << "\n";
    return kExitOk;
  }
  const auto gain = v.at("gain").to_number<double>();
  if (v.at("room_id").is_null()) {
    std::cout << "Your jukebox drives your own room, \"" << ctx.config.username
              << "'s jukebox\", made when a Subsonic app first uses it.\n"
              << "Choose another: hifi jukebox use ROOM\n";
  } else {
    std::cout << "Your jukebox drives room " << str(v.at("room_id")) << " (" << str(v.at("room_name")) << ").\n";
  }
  std::printf("Gain: %.2f (kept for Subsonic apps; rooms have no volume of their own)\n", gain);
  return kExitOk;
}

}  // namespace

int cmd_jukebox_show(CliContext& ctx) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = ctx.api->json("GET", "/api/v1/me/jukebox");
  if (!r) return fail(r.error, "could not read your jukebox");
  return print_choice(ctx, *r);
}

int cmd_jukebox_use(CliContext& ctx, const std::string& room) {
  int code = kExitOk;
  auto id = resolve_room(ctx, room, code);
  if (!id) return code;
  json::value body = {{"room_id", *id}};
  auto r = ctx.api->json("PUT", "/api/v1/me/jukebox", &body);
  if (!r) return fail(r.error, "could not choose the room");
  return print_choice(ctx, *r);
}

}  // namespace hifi::client
