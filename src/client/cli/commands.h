// The `hifi` commands. Each returns a process exit code (see ExitCode) and
// prints what the user needs: tables and progress on a terminal, JSON on
// stdout with --json, errors on stderr with a hint of what to do next.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/api_client.h"
#include "client/config_store.h"
#include "client/library_client.h"

namespace CLI {
class App;
}

namespace hifi::client {

struct CliContext {
  StoredConfig config;
  std::vector<std::string> servers;  // from --server, else remembered, else the default
  bool json = false;
  std::string ca_file;  // absolute path of the trusted authorities in use; "" for the system's
  std::unique_ptr<ApiClient> api;
};

int cmd_register(CliContext& ctx, std::string username, bool password_stdin);
int cmd_login(CliContext& ctx, std::string username, bool password_stdin);
int cmd_logout(CliContext& ctx);
int cmd_whoami(CliContext& ctx);
int cmd_upload(CliContext& ctx, const std::vector<std::string>& paths, int jobs);
int cmd_songs(CliContext& ctx, const std::string& query, int limit);
int cmd_download(CliContext& ctx, const std::string& song_id, const std::string& output);
int cmd_rooms_list(CliContext& ctx);
int cmd_rooms_create(CliContext& ctx, const std::string& name);
int cmd_rooms_delete(CliContext& ctx, const std::string& room);
int cmd_queue_show(CliContext& ctx, const std::string& room);
int cmd_queue_add(CliContext& ctx, const std::string& room, const std::vector<std::string>& song_ids, bool next);
int cmd_queue_remove(CliContext& ctx, const std::string& room, const std::string& item);
int cmd_queue_move(CliContext& ctx, const std::string& room, const std::string& item, int position);
int cmd_queue_clear(CliContext& ctx, const std::string& room);
// type: play, pause, skip, previous
int cmd_control(CliContext& ctx, const std::string& room, const std::string& type);
int cmd_seek(CliContext& ctx, const std::string& room, const std::string& position);
int cmd_status(CliContext& ctx, const std::string& room);
// quality: "original", "high" or "low" (see StreamQuality). spread: connect
// to the least-loaded cluster member (else the first server).
int cmd_listen(CliContext& ctx, const std::string& room, const std::string& sink,
               const std::string& sync_log, const std::string& quality, int sample_rate,
               bool spread = true);
int cmd_cluster(CliContext& ctx);
// Asks node `id` to drain (admins; cluster_commands.cc); with `wait`, follows
// it until it has left the member list or `timeout_s` passed.
int cmd_cluster_drain(CliContext& ctx, const std::string& id, bool wait, int timeout_s);

// App passwords and API keys for Subsonic apps (credential_commands.cc).
enum class CredentialCommandKind { kAppPassword, kApiKey };
int cmd_credential_create(CliContext& ctx, CredentialCommandKind kind, const std::string& name);
int cmd_credential_list(CliContext& ctx, CredentialCommandKind kind);
int cmd_credential_revoke(CliContext& ctx, CredentialCommandKind kind, const std::string& id);

// Playlists, stars, history and shares (library_commands.cc).
int cmd_playlists_list(CliContext& ctx);
int cmd_playlist_create(CliContext& ctx, const std::string& name, const std::string& comment, bool is_public,
                        const std::vector<std::string>& song_ids);
int cmd_playlist_show(CliContext& ctx, const std::string& id);
// Applies `change` and reports `done` ("Added 2 songs").
int cmd_playlist_edit(CliContext& ctx, const std::string& id, const PlaylistChange& change, const std::string& done);
int cmd_playlist_delete(CliContext& ctx, const std::string& id);
int cmd_star(CliContext& ctx, LibraryItem kind, const std::string& id, bool starred);
int cmd_starred(CliContext& ctx);
int cmd_history(CliContext& ctx, int limit);
// expires: a duration ("7d"), empty for never.
int cmd_share_create(CliContext& ctx, const std::vector<std::string>& song_ids, const std::string& album,
                     const std::string& playlist, const std::string& expires, const std::string& description);
int cmd_shares_list(CliContext& ctx);
int cmd_share_revoke(CliContext& ctx, const std::string& id);
// Adds the commands above to `app`; a command's exit code goes to `code`.
void add_library_commands(CLI::App& app, CliContext& ctx, int& code);
// The room your Subsonic jukebox drives (jukebox_command.cc): show it, or
// choose one by id or name.
int cmd_jukebox_show(CliContext& ctx);
int cmd_jukebox_use(CliContext& ctx, const std::string& room);

// Shared by the command files: report an API error on stderr with a hint
// and return its exit code; a JSON value as text ("" for null); whether a
// token is stored (else say how to log in).
int fail(const ApiError& e, const std::string& doing);
std::string str(const boost::json::value& v);
bool require_login(CliContext& ctx);
// A JSON time (Unix ms) as local "YYYY-MM-DD HH:MM"; "never" for null
// (credential_commands.cc).
std::string local_time(const boost::json::value& ms);
// A room given by id or by (unique) name; also checks the user is logged
// in. nullopt (with `code` set and the problem reported) when there is none.
std::optional<std::string> resolve_room(CliContext& ctx, const std::string& room, int& code);

// Whether the servers in use are the remembered ones, so that the
// remembered cluster members belong to them.
bool uses_remembered_servers(const CliContext& ctx);

// "90", "1:30", "01:02:03", "90.5" -> milliseconds; kInvalidArgument when
// malformed.
Result<long long> parse_position(std::string_view text);

}  // namespace hifi::client
