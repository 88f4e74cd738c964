#include "client/cli/commands.h"

#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "client/cli/progress.h"
#include "client/player.h"
#include "client/room_client.h"

namespace hifi::client {
namespace json = boost::json;
namespace fs = std::filesystem;

int fail(const ApiError& e, const std::string& doing) {
  std::cerr << "hifi: " << doing << ": " << e.message() << "\n";
  switch (e.exit_code()) {
    case kExitAuth:
      if (e.status == 401) std::cerr << "hint: log in first: hifi login --username NAME\n";
      break;
    case kExitNetwork:
      if (e.detail.find("certificate is not trusted") != std::string::npos) {
        std::cerr << "hint: if the server's certificate comes from your own authority, give its certificate: "
                     "--ca-file ca.pem (or set HIFI_CA_FILE)\n";
      } else {
        std::cerr << "hint: is the server running? Point hifi at it with --server http://HOST:PORT\n";
      }
      break;
    default:
      break;
  }
  return e.exit_code();
}

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

bool require_login(CliContext& ctx) {
  if (!ctx.config.token.empty()) return true;
  std::cerr << "hifi: you are not logged in.\nhint: hifi login --username NAME\n";
  return false;
}

namespace {

int usage(const std::string& message) {
  std::cerr << "hifi: " << message << "\n";
  return kExitUsage;
}

std::string clock_text(double ms) { return human_duration(ms / 1000.0); }

// "alice, bob and 48 more": at most `shown` of the names, and how many of
// `count` listeners are left unnamed; "nobody" for none.
std::string listeners_text(const std::vector<std::string>& names, std::size_t count, std::size_t shown) {
  if (count == 0 && names.empty()) return "nobody";
  std::string out;
  const auto named = std::min(names.size(), shown);
  for (std::size_t i = 0; i < named; ++i) out += (i ? ", " : "") + names[i];
  const auto more = std::max(count, names.size()) - named;
  if (more > 0) out += (named ? " and " : "") + std::to_string(more) + (named ? " more" : " listening");
  return out;
}

bool read_password(bool from_stdin, const std::string& prompt, std::string& password) {
  if (from_stdin || !::isatty(STDIN_FILENO)) {
    if (!std::getline(std::cin, password)) return false;
    if (!password.empty() && password.back() == '\r') password.pop_back();
    return true;
  }
  std::cerr << prompt << std::flush;
  termios old{};
  tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  bool ok = static_cast<bool>(std::getline(std::cin, password));
  tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::cerr << "\n";
  return ok;
}

bool ask_username(std::string& username) {
  if (!username.empty()) return true;
  if (!::isatty(STDIN_FILENO)) return false;
  std::cerr << "Username: " << std::flush;
  return static_cast<bool>(std::getline(std::cin, username)) && !username.empty();
}

// The advertised URLs of a cluster's members, as remembered in the config.
std::vector<std::string> member_urls(const ClusterInfo& cluster) {
  std::vector<std::string> out;
  for (const auto& m : cluster.members) {
    if (std::none_of(out.begin(), out.end(), [&](const auto& u) { return same_server(u, m.advertise); })) {
      out.push_back(m.advertise);
    }
  }
  return out;
}

// Remembers the members a cluster reported (when it is the remembered
// servers' cluster and the list changed), so that a later run can fall back
// on them even when the first server is down. Not being able to save is
// only worth a warning.
void remember_members(CliContext& ctx, const ClusterInfo& cluster) {
  if (!cluster.available || !uses_remembered_servers(ctx) || ctx.config.token.empty()) return;
  auto urls = member_urls(cluster);
  if (urls == ctx.config.members) return;
  ctx.config.members = std::move(urls);
  if (Status saved = save_config(ctx.config); !saved) {
    std::cerr << "hifi: warning: could not remember the cluster's members: " << saved.message() << "\n";
  }
}

int save_session(CliContext& ctx, const json::value& login) {
  ctx.config.token = str(login.at("token"));
  ctx.config.username = str(login.at("user").at("username"));
  // Members of another cluster (an earlier --server) are no use here.
  if (!uses_remembered_servers(ctx)) ctx.config.members.clear();
  ctx.config.servers = ctx.servers;
  ctx.config.ca_file = ctx.ca_file;
  // Learn the cluster's members to fall back on (a signed-in question); a
  // server that cannot tell (404) or does not answer now keeps what was known.
  ctx.api->set_token(ctx.config.token);
  if (auto cluster = ctx.api->discover_members(); cluster && cluster->available) {
    ctx.config.members = member_urls(*cluster);
  }
  if (Status saved = save_config(ctx.config); !saved) {
    std::cerr << "hifi: logged in, but could not save the token: " << saved.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int do_login(CliContext& ctx, const std::string& username, const std::string& password, bool quiet) {
  json::value body = {{"username", username}, {"password", password}};
  auto r = ctx.api->json("POST", "/api/v1/auth/login", &body);
  if (!r) return fail(r.error, "login failed");
  if (int rc = save_session(ctx, *r); rc != kExitOk) return rc;
  if (ctx.json) std::cout << json::serialize(r->at("user")) << "\n";
  else if (!quiet) std::cout << "Logged in as " << ctx.config.username << " on " << ctx.api->current_server() << ".\n";
  return kExitOk;
}

}  // namespace

std::optional<std::string> resolve_room(CliContext& ctx, const std::string& room, int& code) {
  if (!require_login(ctx)) {
    code = kExitAuth;
    return std::nullopt;
  }
  auto r = ctx.api->json("GET", "/api/v1/rooms");
  if (!r) {
    code = fail(r.error, "could not list rooms");
    return std::nullopt;
  }
  std::vector<std::string> by_name;
  for (const auto& item : r->at("items").as_array()) {
    if (str(item.at("id")) == room) return room;
    if (str(item.at("name")) == room) by_name.push_back(str(item.at("id")));
  }
  if (by_name.size() == 1) return by_name.front();
  if (by_name.size() > 1) {
    code = usage("several rooms are called '" + room + "'; use its id (see `hifi rooms`)");
  } else {
    std::cerr << "hifi: no room '" << room << "'\nhint: `hifi rooms` lists them\n";
    code = kExitNotFound;
  }
  return std::nullopt;
}

namespace {

std::map<std::string, json::object> song_titles(CliContext& ctx, const json::array& queue) {
  std::map<std::string, json::object> out;
  for (const auto& item : queue) {
    auto id = str(item.at("song_id"));
    if (out.count(id)) continue;
    auto song = ctx.api->json("GET", "/api/v1/songs/" + id);
    if (song) out[id] = song->as_object();
  }
  return out;
}

std::string describe_song(const json::object* song) {
  if (!song) return "(unknown song)";
  auto artist = str(song->at("artist"));
  return (artist.empty() ? "" : artist + " – ") + str(song->at("title"));
}

void print_room_state(CliContext& ctx, const json::object& room) {
  const auto& state = room.at("state").as_object();
  const auto& queue = state.at("queue").as_array();
  auto titles = song_titles(ctx, queue);
  const auto current = str(state.at("current"));
  std::cout << "Room " << str(room.at("name")) << " (" << str(room.at("id")) << ")\n";
  for (std::size_t i = 0; i < queue.size(); ++i) {
    const auto& item = queue[i].as_object();
    auto it = titles.find(str(item.at("song_id")));
    const bool is_current = str(item.at("id")) == current;
    std::cout << (is_current ? (state.at("playing").as_bool() ? " ▶ " : " ⏸ ") : "   ") << i << "  "
              << str(item.at("id")) << "  " << describe_song(it == titles.end() ? nullptr : &it->second)
              << "  " << clock_text(static_cast<double>(item.at("duration_ms").to_number<std::int64_t>())) << "\n";
  }
  if (queue.empty()) std::cout << "   (the queue is empty: hifi queue ROOM add SONG_ID)\n";
}

}  // namespace

bool uses_remembered_servers(const CliContext& ctx) {
  const auto& saved = ctx.config.servers;
  if (saved.size() != ctx.servers.size()) return false;
  for (std::size_t i = 0; i < saved.size(); ++i) {
    if (!same_server(saved[i], ctx.servers[i])) return false;
  }
  return !saved.empty();
}

Result<long long> parse_position(std::string_view text) {
  const auto malformed = [&] { return invalid_argument("not a position: '" + std::string(text) + "'"); };
  if (text.empty()) return malformed();
  double total = 0;
  std::size_t start = 0;
  int parts = 0;
  while (true) {
    auto colon = text.find(':', start);
    const std::string piece(
        text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (piece.empty() || piece.find_first_not_of("0123456789.") != std::string::npos) return malformed();
    char* end = nullptr;
    double v = std::strtod(piece.c_str(), &end);
    if (*end != '\0' || v < 0) return malformed();
    if (parts > 0 && v >= 60) return malformed();
    total = total * 60 + v;
    if (++parts > 3) return malformed();
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return std::llround(total * 1000);
}

int cmd_register(CliContext& ctx, std::string username, bool password_stdin) {
  if (!ask_username(username)) return usage("give --username");
  std::string password;
  if (!read_password(password_stdin, "Choose a password: ", password)) return usage("no password given");
  json::value body = {{"username", username}, {"password", password}};
  auto r = ctx.api->json("POST", "/api/v1/auth/register", &body);
  if (!r) return fail(r.error, "registration failed");
  if (!ctx.json) {
    std::cout << "Registered " << str(r->at("username"))
              << (str(r->at("role")) == "admin" ? " (the first account: you are the admin)" : "") << ".\n";
  }
  return do_login(ctx, username, password, false);
}

int cmd_login(CliContext& ctx, std::string username, bool password_stdin) {
  if (!ask_username(username)) return usage("give --username");
  std::string password;
  if (!read_password(password_stdin, "Password: ", password)) return usage("no password given");
  return do_login(ctx, username, password, false);
}

int cmd_logout(CliContext& ctx) {
  if (!ctx.config.token.empty()) {
    auto r = ctx.api->request("POST", "/api/v1/auth/logout");
    if (!r && r.error.status != 401) return fail(r.error, "logout failed");
  }
  ctx.config.token.clear();
  if (Status saved = save_config(ctx.config); !saved) {
    std::cerr << "hifi: " << saved.message() << "\n";
    return kExitFailure;
  }
  if (!ctx.json) std::cout << "Logged out.\n";
  return kExitOk;
}

int cmd_whoami(CliContext& ctx) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = ctx.api->json("GET", "/api/v1/me");
  if (!r) return fail(r.error, "could not ask the server");
  if (ctx.json) {
    std::cout << json::serialize(*r) << "\n";
    return kExitOk;
  }
  std::cout << str(r->at("username")) << " (" << str(r->at("role")) << ") on " << ctx.api->current_server() << "\n";
  // Storage, from servers that report it: what your uploads take of your limit.
  const auto* me = r->if_object();
  const auto* used = me ? me->if_contains("storage_bytes") : nullptr;
  const auto* quota = me ? me->if_contains("storage_quota_bytes") : nullptr;
  const auto* songs = me ? me->if_contains("song_count") : nullptr;
  if (used && used->is_number() && quota && quota->is_number()) {
    const auto used_bytes = used->to_number<double>(), quota_bytes = quota->to_number<double>();
    const auto count = songs && songs->is_number() ? songs->to_number<std::int64_t>() : 0;
    std::cout << "  " << count << (count == 1 ? " song" : " songs") << " uploaded, " << human_bytes(used_bytes);
    if (quota_bytes > 0) {
      std::cout << " of your " << human_bytes(quota_bytes) << " ("
                << human_bytes(std::max(0.0, quota_bytes - used_bytes)) << " left)\n";
    } else {
      std::cout << "; no storage limit\n";
    }
  }
  return kExitOk;
}

int cmd_upload(CliContext& ctx, const std::vector<std::string>& paths, int jobs) {
  if (!require_login(ctx)) return kExitAuth;
  static const std::set<std::string> kAudio = {".mp3", ".flac", ".ogg", ".oga", ".opus", ".wav",
                                               ".m4a", ".aac", ".mp4", ".aif", ".aiff", ".wma", ".alac"};
  auto is_audio = [&](const fs::path& p) {
    auto ext = p.extension().string();
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return kAudio.count(ext) > 0;
  };
  std::vector<std::string> files;
  std::size_t ignored = 0;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file()) continue;
        if (is_audio(it->path())) found.push_back(it->path().string());
        else ++ignored;
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);  // named explicitly: let the server judge it
    } else {
      std::cerr << "hifi: " << p << ": no such file or folder\n";
      return kExitUsage;
    }
  }
  if (files.empty()) {
    std::cerr << "hifi: no audio files found" << (ignored ? " (" + std::to_string(ignored) + " other files ignored)" : "") << "\n";
    return kExitFailure;
  }

  struct Outcome {
    std::string path, result, detail, id;
    std::uint64_t bytes = 0;
  };
  std::vector<Outcome> outcomes(files.size());
  std::atomic<std::size_t> next{0};
  ProgressBoard board;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < files.size();) {
      auto& out = outcomes[i];
      out.path = files[i];
      std::error_code ec;
      out.bytes = fs::file_size(files[i], ec);
      const auto name = fs::path(files[i]).filename().string();
      const auto sha = sha256_file(files[i]);
      if (sha.empty()) {
        out.result = "failed";
        out.detail = "cannot read the file";
        board.message("✗ " + name + ": cannot read the file");
        continue;
      }
      auto existing = ctx.api->json("GET", "/api/v1/songs/by-sha256/" + sha);
      if (existing) {
        out.result = "skipped";
        out.id = str(existing->at("id"));
        board.message("= " + name + ": already on the server (" + out.id + ")");
        continue;
      }
      int bar = board.add(name, out.bytes);
      auto r = ctx.api->upload_song(files[i], sha, [&](std::uint64_t done, std::uint64_t total) {
        board.update(bar, done, total);
      });
      if (!r) {
        out.result = r.error.status == 0 ? "failed" : "rejected";
        out.detail = r.error.detail.empty() ? r.error.message() : r.error.detail;
        board.finish(bar, "✗ " + name + ": " + out.detail);
        continue;
      }
      out.id = str(r->at("id"));
      if (str(r->at("sha256")) != sha) {
        out.result = "failed";
        out.detail = "the server stored different bytes than were sent";
        board.finish(bar, "✗ " + name + ": " + out.detail);
        continue;
      }
      out.result = "uploaded";
      board.finish(bar, "✓ " + name + " (" + human_bytes(static_cast<double>(out.bytes)) + ") → " + out.id);
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::min<int>(jobs, static_cast<int>(files.size())); ++j) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  std::map<std::string, int> counts;
  bool network_failure = false;
  json::array report;
  for (const auto& o : outcomes) {
    ++counts[o.result];
    if (o.result == "failed" && o.detail.find("could not reach") != std::string::npos) network_failure = true;
    report.push_back({{"path", o.path}, {"result", o.result}, {"id", o.id}, {"detail", o.detail}, {"bytes", o.bytes}});
  }
  if (ctx.json) std::cout << json::serialize(report) << "\n";
  {
    std::cerr << counts["uploaded"] << " uploaded, " << counts["skipped"] << " already on the server, "
              << counts["rejected"] << " rejected, " << counts["failed"] << " failed";
    if (ignored) std::cerr << " (" << ignored << " non-audio files ignored)";
    std::cerr << "\n";
  }
  if (network_failure) return kExitNetwork;
  return counts["rejected"] + counts["failed"] > 0 ? kExitFailure : kExitOk;
}

int cmd_songs(CliContext& ctx, const std::string& query, int limit) {
  if (!require_login(ctx)) return kExitAuth;
  json::array all;
  std::string cursor;
  while (static_cast<int>(all.size()) < limit) {
    auto page_size = std::min(500, limit - static_cast<int>(all.size()));
    std::string target = "/api/v1/songs?limit=" + std::to_string(page_size);
    if (!query.empty()) target += "&q=" + url_encode(query);
    if (!cursor.empty()) target += "&cursor=" + url_encode(cursor);
    auto r = ctx.api->json("GET", target);
    if (!r) return fail(r.error, "could not list songs");
    for (auto& item : r->at("items").as_array()) all.push_back(item);
    if (r->at("next").is_null()) break;
    cursor = str(r->at("next"));
  }
  if (ctx.json) {
    std::cout << json::serialize(all) << "\n";
    return kExitOk;
  }
  if (all.empty()) {
    std::cout << (query.empty() ? "The library is empty: hifi upload FILE|DIR\n" : "No song matches.\n");
    return kExitOk;
  }
  std::printf("%-32s  %-30s  %-22s  %-22s  %6s\n", "ID", "TITLE", "ARTIST", "ALBUM", "LENGTH");
  auto cut = [](std::string s, std::size_t n) {
    // Cut on a character boundary so multi-byte letters stay whole.
    if (s.size() <= n) return s;
    s.resize(n);
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
    return s + "…";
  };
  for (const auto& item : all) {
    std::printf("%-32s  %-30s  %-22s  %-22s  %6s\n", str(item.at("id")).c_str(), cut(str(item.at("title")), 30).c_str(),
                cut(str(item.at("artist")), 22).c_str(), cut(str(item.at("album")), 22).c_str(),
                clock_text(static_cast<double>(item.at("duration_ms").to_number<std::int64_t>())).c_str());
  }
  return kExitOk;
}

int cmd_download(CliContext& ctx, const std::string& song_id, const std::string& output) {
  if (!require_login(ctx)) return kExitAuth;
  auto song = ctx.api->json("GET", "/api/v1/songs/" + song_id);
  if (!song) return fail(song.error, "no such song");
  const auto sha = str(song->at("sha256"));
  const auto size = song->at("size").to_number<std::uint64_t>();
  const auto part = output + ".part";
  ProgressBoard board;
  int bar = board.add(fs::path(output).filename().string(), size);
  auto r = ctx.api->download("/api/v1/songs/" + song_id + "/stream", part,
                             [&](std::uint64_t done, std::uint64_t total) { board.update(bar, done, total); });
  if (!r) {
    board.finish(bar, "✗ download interrupted; run the same command again to resume");
    return fail(r.error, "download failed");
  }
  if (sha256_file(part) != sha) {
    // Corrupt: never leave it under the final name, nor as a resumable part.
    fs::remove(part);
    board.finish(bar, "✗ the download does not match the song's SHA-256; it was removed");
    return kExitFailure;
  }
  std::error_code ec;
  fs::rename(part, output, ec);
  if (ec) {
    board.finish(bar, "✗ cannot write " + output + ": " + ec.message());
    return kExitFailure;
  }
  board.finish(bar, "✓ " + output + " (" + human_bytes(static_cast<double>(size)) + ", SHA-256 verified)");
  if (ctx.json) std::cout << json::serialize(json::object{{"path", output}, {"sha256", sha}, {"size", size}}) << "\n";
  return kExitOk;
}

int cmd_rooms_list(CliContext& ctx) {
  if (!require_login(ctx)) return kExitAuth;
  auto r = ctx.api->json("GET", "/api/v1/rooms");
  if (!r) return fail(r.error, "could not list rooms");
  if (ctx.json) {
    std::cout << json::serialize(r->at("items")) << "\n";
    return kExitOk;
  }
  const auto& items = r->at("items").as_array();
  if (items.empty()) {
    std::cout << "No rooms yet: hifi rooms create NAME\n";
    return kExitOk;
  }
  std::printf("%-16s  %-24s  %9s  %s\n", "ID", "NAME", "LISTENERS", "NOW PLAYING");
  for (const auto& item : items) {
    std::string playing = "-";
    if (!item.at("now_playing").is_null()) {
      const auto& np = item.at("now_playing").as_object();
      playing = (np.at("playing").as_bool() ? "▶ " : "⏸ ") +
                (np.contains("title") ? str(np.at("title")) : str(np.at("song_id")));
    }
    std::printf("%-16s  %-24s  %9lld  %s\n", str(item.at("id")).c_str(), str(item.at("name")).c_str(),
                static_cast<long long>(item.at("listener_count").to_number<std::int64_t>()), playing.c_str());
  }
  return kExitOk;
}

int cmd_rooms_create(CliContext& ctx, const std::string& name) {
  if (!require_login(ctx)) return kExitAuth;
  json::value body = {{"name", name}};
  auto r = ctx.api->json("POST", "/api/v1/rooms", &body);
  if (!r) return fail(r.error, "could not create the room");
  if (ctx.json) std::cout << json::serialize(*r) << "\n";
  else std::cout << "Created room " << str(r->at("name")) << " (" << str(r->at("id")) << ").\n";
  return kExitOk;
}

int cmd_rooms_delete(CliContext& ctx, const std::string& room) {
  int code = kExitOk;
  auto id = resolve_room(ctx, room, code);
  if (!id) return code;
  auto r = ctx.api->request("DELETE", "/api/v1/rooms/" + *id);
  if (!r) return fail(r.error, "could not delete the room");
  if (!ctx.json) std::cout << "Deleted room " << *id << ".\n";
  return kExitOk;
}

int cmd_queue_show(CliContext& ctx, const std::string& room) {
  int code = kExitOk;
  auto id = resolve_room(ctx, room, code);
  if (!id) return code;
  auto r = ctx.api->json("GET", "/api/v1/rooms/" + *id);
  if (!r) return fail(r.error, "could not read the room");
  if (ctx.json) std::cout << json::serialize(r->at("state").at("queue")) << "\n";
  else print_room_state(ctx, r->as_object());
  return kExitOk;
}

namespace {

// Sends a command to a room and reports the outcome. With
// name_current_item the command carries the current item and its selection
// as its precondition, so that two people pressing skip (or previous) at
// once move one song, not two.
int run_command(CliContext& ctx, const std::string& room, json::object cmd, const std::string& done,
                bool name_current_item = false) {
  int code = kExitOk;
  auto id = resolve_room(ctx, room, code);
  if (!id) return code;
  if (name_current_item) {
    auto state = ctx.api->json("GET", "/api/v1/rooms/" + *id);
    if (!state) return fail(state.error, "could not read the room");
    const auto& room_state = state->at("state").as_object();
    const auto& current = room_state.at("current");
    if (!current.is_null()) cmd["item_id"] = current;
    if (const auto* selection = room_state.if_contains("selection")) cmd["selection"] = *selection;
  }
  json::value body = cmd;
  auto r = ctx.api->json("POST", "/api/v1/rooms/" + *id + "/commands", &body);
  if (!r) {
    if (r.error.status == 409) {
      std::cerr << "hifi: " << r.error.detail << " (someone else changed the room first; nothing was done)\n";
      return kExitFailure;
    }
    return fail(r.error, "the room did not accept the command");
  }
  if (ctx.json) std::cout << json::serialize(*r) << "\n";
  else std::cout << done << "\n";
  return kExitOk;
}

}  // namespace

int cmd_queue_add(CliContext& ctx, const std::string& room, const std::vector<std::string>& song_ids, bool next) {
  json::array ids;
  for (const auto& s : song_ids) ids.push_back(json::value(s));
  return run_command(ctx, room, {{"type", "add"}, {"song_ids", ids}, {"at", next ? "next" : "end"}},
                     "Added " + std::to_string(song_ids.size()) + " song(s).");
}

int cmd_queue_remove(CliContext& ctx, const std::string& room, const std::string& item) {
  return run_command(ctx, room, {{"type", "remove"}, {"item_id", item}}, "Removed " + item + ".");
}

int cmd_queue_move(CliContext& ctx, const std::string& room, const std::string& item, int position) {
  return run_command(ctx, room, {{"type", "move"}, {"item_id", item}, {"to", position}},
                     "Moved " + item + " to position " + std::to_string(position) + ".");
}

int cmd_queue_clear(CliContext& ctx, const std::string& room) {
  return run_command(ctx, room, {{"type", "clear"}}, "Cleared the queue.");
}

int cmd_control(CliContext& ctx, const std::string& room, const std::string& type) {
  static const std::map<std::string, std::string> kDone = {
      {"play", "Playing."}, {"pause", "Paused."}, {"skip", "Skipped."}, {"previous", "Went back."}};
  const bool names_item = type == "skip" || type == "previous";
  return run_command(ctx, room, {{"type", type}}, kDone.at(type), names_item);
}

int cmd_seek(CliContext& ctx, const std::string& room, const std::string& position) {
  auto ms = parse_position(position);
  if (!ms) return usage("position must be seconds (90) or mm:ss (1:30)");
  return run_command(ctx, room, {{"type", "seek"}, {"position_ms", *ms}}, "Moved to " + clock_text(static_cast<double>(*ms)) + ".");
}

int cmd_status(CliContext& ctx, const std::string& room) {
  int code = kExitOk;
  auto id = resolve_room(ctx, room, code);
  if (!id) return code;
  auto r = ctx.api->json("GET", "/api/v1/rooms/" + *id);
  if (!r) return fail(r.error, "could not read the room");
  if (ctx.json) {
    std::cout << json::serialize(*r) << "\n";
    return kExitOk;
  }
  const auto& state = r->at("state").as_object();
  std::string now = "nothing";
  const auto current = str(state.at("current"));
  for (const auto& item : state.at("queue").as_array()) {
    if (str(item.at("id")) != current) continue;
    auto song = ctx.api->json("GET", "/api/v1/songs/" + str(item.at("song_id")));
    const auto duration = static_cast<double>(item.at("duration_ms").to_number<std::int64_t>());
    double pos = static_cast<double>(state.at("position_ms").to_number<std::int64_t>());
    if (state.at("playing").as_bool()) {
      // The server's clock is not ours, but for a status line the
      // difference does not matter.
      using namespace std::chrono;
      auto local_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
      pos += static_cast<double>(local_ms - state.at("position_at").to_number<std::int64_t>());
    }
    pos = std::clamp(pos, 0.0, duration);
    json::object song_obj = song ? song->as_object() : json::object{};
    now = std::string(state.at("playing").as_bool() ? "▶ " : "⏸ ") + describe_song(song ? &song_obj : nullptr) +
          "  " + clock_text(pos) + " / " + clock_text(duration);
  }
  std::cout << "Room:      " << str(r->at("name")) << " (" << str(r->at("id")) << ")\n"
            << "Playing:   " << now << "\n"
            << "Queue:     " << state.at("queue").as_array().size() << " item(s), repeat "
            << str(state.at("repeat")) << "\n"
            << "Listeners: ";
  std::vector<std::string> names;
  for (const auto& l : state.at("listeners").as_array()) names.push_back(str(l.at("username")));
  const auto* count = state.if_contains("listener_count");
  std::cout << listeners_text(names, count && count->is_int64() ? static_cast<std::size_t>(count->as_int64()) : names.size(),
                              names.size())
            << "\n";
  return kExitOk;
}

namespace {

std::atomic<bool> g_stop_requested{false};
void on_stop_signal(int) { g_stop_requested = true; }

// Puts the terminal in a mode where single keys arrive without Enter, and
// restores it on destruction.
class RawTerminal {
 public:
  RawTerminal() : active_(::isatty(STDIN_FILENO) == 1) {
    if (!active_) return;
    tcgetattr(STDIN_FILENO, &saved_);
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  bool active() const { return active_; }

 private:
  bool active_;
  termios saved_{};
};

}  // namespace

int cmd_listen(CliContext& ctx, const std::string& room, const std::string& sink,
               const std::string& sync_log, const std::string& quality, int sample_rate,
               bool spread) {
  const auto stream_quality = parse_stream_quality(quality);
  if (!stream_quality) {
    std::cerr << "hifi: --quality must be original, high or low (not '" << quality << "')\n";
    return kExitUsage;
  }
  int code = kExitOk;
  auto id = resolve_room(ctx, room, code);
  if (!id) return code;

  // The servers to try, in order: the least-loaded cluster member first
  // (when the cluster can tell), then the others; the room client moves
  // down the list when one fails.
  std::vector<std::string> order = ctx.api->servers();
  if (auto cluster = ctx.api->discover_members(); cluster && cluster->available) {
    remember_members(ctx, *cluster);
    if (spread && !cluster->members.empty()) {
      order = spread_order(*cluster, ctx.api->servers(), std::random_device{}());
      auto picked = std::find_if(cluster->members.begin(), cluster->members.end(),
                                 [&](const ClusterMember& m) { return same_server(m.advertise, order.front()); });
      if (picked != cluster->members.end()) {
        const auto n = cluster->members.size();
        std::cerr << "Picked " << picked->advertise << " (node " << (picked->id.empty() ? "?" : picked->id);
        if (picked->has_load) {
          std::cerr << ": " << picked->active_streams << " active stream" << (picked->active_streams == 1 ? "" : "s")
                    << ", " << picked->connections << " connection" << (picked->connections == 1 ? "" : "s");
        }
        std::cerr << ")" << (n == 1 ? ", the only cluster member" : ", the least loaded of " + std::to_string(n) + " cluster members")
                  << "\n";
      }
    }
  }

  RoomClient room_client(order, ctx.config.token, *id);
  PlayerOptions options;
  options.sink = sink;
  options.sync_log = sync_log;
  options.quality = *stream_quality;
  options.format.sample_rate = sample_rate;
  options.buffer_frames = static_cast<std::size_t>(sample_rate / 100);
  Player player(*ctx.api, room_client, options);
  if (auto s = player.start(); !s) {
    std::cerr << "hifi: " << s.message() << "\n";
    return s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  room_client.start();

  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  RawTerminal terminal;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  std::cerr << "Listening to room " << *id << " through " << player.sink_description()
            << (terminal.active() ? " — press q to stop" : "") << "\n";

  std::map<std::string, std::string> titles;
  std::string last_line, last_status;
  int result = kExitOk;
  // Nodes join and leave while people listen: learn the members again now
  // and then, so the room client can move to a node that joined after the
  // start when the one it uses goes away.
  constexpr auto kMembersRefresh = std::chrono::seconds(30);
  auto members_learned = std::chrono::steady_clock::now();
  while (!g_stop_requested) {
    if (std::chrono::steady_clock::now() - members_learned >= kMembersRefresh) {
      members_learned = std::chrono::steady_clock::now();
      if (auto cluster = ctx.api->discover_members(); cluster && cluster->available && !cluster->members.empty()) {
        remember_members(ctx, *cluster);
        room_client.set_servers(spread_order(*cluster, ctx.api->servers(), std::random_device{}()));
      }
    }
    pollfd in{STDIN_FILENO, POLLIN, 0};
    if (terminal.active() && ::poll(&in, 1, 250) > 0) {
      char c = 0;
      if (::read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) break;
    } else if (!terminal.active()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    auto view = room_client.view();
    if (view.deleted) {
      std::cerr << "\nThe room was deleted.\n";
      result = kExitNotFound;
      break;
    }
    auto status = player.status();
    auto connection = room_client.status();
    if (connection != last_status) {
      if (tty) std::cerr << "\r\x1b[2K";
      std::cerr << connection << "\n";
      last_status = connection;
    }
    std::string title = "-";
    if (!status.song_id.empty()) {
      auto it = titles.find(status.song_id);
      if (it == titles.end()) {
        auto song = ctx.api->json("GET", "/api/v1/songs/" + status.song_id);
        json::object o = song ? song->as_object() : json::object{};
        it = titles.emplace(status.song_id, describe_song(song ? &o : nullptr)).first;
      }
      title = it->second;
    }
    const auto listeners = listeners_text(view.listeners, view.listener_count, 3);
    std::string line;
    if (status.song_id.empty()) {
      line = view.valid ? "⏹ nothing playing" : "… joining";
    } else {
      const double fraction = status.duration_ms > 0 ? status.position_ms / status.duration_ms : 0;
      std::string gauge(20, '-');
      for (int i = 0; i < static_cast<int>(fraction * 20) && i < 20; ++i) gauge[i] = '#';
      const char* state = !status.playing ? "⏸ " : status.buffering ? "… " : "▶ ";
      line = state + title + "  [" + gauge + "] " + clock_text(status.position_ms) + " / " +
             clock_text(status.duration_ms);
    }
    line += "  | listening: " + (view.listener_count == 0 ? std::string("-") : listeners);
    if (!status.error.empty()) line += "  | " + status.error;
    if (tty) {
      std::cerr << "\r\x1b[2K" << line << std::flush;
    } else if (line.substr(0, line.find('[')) != last_line.substr(0, last_line.find('['))) {
      std::cerr << line << "\n";  // not a terminal: only print changes
    }
    last_line = line;
  }
  if (tty) std::cerr << "\n";
  std::cerr << "Stopped listening.\n";
  player.stop();
  room_client.stop();
  return result;
}

int cmd_cluster(CliContext& ctx) {
  auto r = ctx.api->cluster();
  if (!r) return fail(r.error, "could not ask for the cluster's members");
  const auto server = ctx.api->current_server();
  if (!r->available) {
    if (ctx.json) std::cout << json::serialize(json::object{{"self", nullptr}, {"leader", nullptr}, {"members", json::array{}}}) << "\n";
    std::cerr << server << " does not report cluster members (a HiFi server from before clusters)\n";
    return kExitOk;
  }
  remember_members(ctx, *r);
  if (ctx.json) {
    std::cout << json::serialize(r->document) << "\n";
    return kExitOk;
  }
  const auto& members = r->members;
  std::cout << (members.size() == 1 ? "1 member" : std::to_string(members.size()) + " members");
  if (r->replication_factor > 0) std::cout << ", replication factor " << r->replication_factor;
  std::cout << " (asked " << server << (r->self.empty() ? "" : ", node " + r->self) << ")\n";
  if (members.empty()) return kExitOk;
  std::printf("  %-16s  %-30s  %-8s  %7s  %11s  %s\n", "ID", "ADDRESS", "HEALTH", "STREAMS", "CONNECTIONS", "FREE DISK");
  bool any_leader = false;
  for (const auto& m : members) {
    any_leader = any_leader || m.leader;
    std::string disk = "-";
    if (m.disk_free_bytes) {
      disk = human_bytes(static_cast<double>(*m.disk_free_bytes));
      if (m.disk_total_bytes && *m.disk_total_bytes > 0) {
        disk += " of " + human_bytes(static_cast<double>(*m.disk_total_bytes));
      }
    }
    const auto streams = m.has_load ? std::to_string(m.active_streams) : std::string("-");
    const auto connections = m.has_load ? std::to_string(m.connections) : std::string("-");
    std::printf("%s %-16s  %-30s  %-8s  %7s  %11s  %s\n", m.leader ? "*" : " ",
                (m.id.empty() ? std::string("-") : m.id).c_str(), m.advertise.c_str(),
                (m.health.empty() ? std::string("-") : m.health).c_str(), streams.c_str(),
                connections.c_str(), disk.c_str());
  }
  if (any_leader) std::cout << "* leader (runs the repairs)\n";
  // The autoscaler's decision (admins).
  if (r->document.is_object()) {
    if (const auto* scale = r->document.as_object().if_contains("scale"); scale && scale->is_object()) {
      const auto& o = scale->as_object();
      if (const auto* wanted = o.if_contains("wanted"); wanted && wanted->is_int64()) {
        std::cout << "Scale: wants " << wanted->as_int64() << " node(s)";
        if (const auto* reason = o.if_contains("reason"); reason && reason->is_string()) {
          std::cout << " (" << std::string(reason->as_string()) << ")";
        }
        std::cout << "\n";
      }
    }
  }
  return kExitOk;
}

}  // namespace hifi::client
