// hifi: the command-line client of HiFi. See `hifi --help`.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <tuple>

#include "client/cli/commands.h"

using namespace hifi::client;

int main(int argc, char** argv) {
  CLI::App app{
      "hifi: the command-line client of HiFi, the self-hosted music sharing service.\n\n"
      "Log in once; the servers and your token are remembered in\n"
      "$XDG_CONFIG_HOME/hifi/config.json (mode 0600). Give --server several\n"
      "times for the members of a cluster: hifi uses whichever answers. It also\n"
      "learns the cluster's other members (at login, and each time you listen)\n"
      "and remembers them to fall back on; `hifi listen` joins the least-loaded\n"
      "member. Downloads follow a node's redirect to the node holding the song.\n\n"
      "Exit codes: 0 ok, 1 some work failed (e.g. a file rejected), 2 usage,\n"
      "3 authentication, 4 not found, 5 server error, 6 network.\n\n"
      "Examples:\n"
      "  hifi --server http://127.0.0.1:8080 register --username alice\n"
      "  hifi upload ~/Music\n"
      "  hifi songs björk\n"
      "  hifi rooms create \"Friday night\"\n"
      "  hifi queue \"Friday night\" add 4d638fea2fdf608a0c62613b0834f670\n"
      "  hifi play \"Friday night\"\n"
      "  hifi listen \"Friday night\"\n"
      "  hifi playlists create \"Road trip\" SONG_ID...\n"
      "  hifi star SONG_ID\n"
      "  hifi share SONG_ID --expires 7d\n"
      "  hifi cluster",
      "hifi"};
  app.set_version_flag("--version", "hifi 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();
  CliContext ctx;
  std::vector<std::string> servers;
  app.add_option("--server", servers, "Server URL, e.g. http://127.0.0.1:8080 (repeatable)")
      ->envname("HIFI_SERVER")->delimiter(',');
  app.add_flag("--json", ctx.json, "Print results as JSON on stdout, for scripts");
  std::string ca_file;
  app.add_option("--ca-file", ca_file,
                 "Certificate authorities (PEM) that an https:// server's certificate must chain to, "
                 "instead of the system's (e.g. your own CA's ca.pem); remembered by login")
      ->envname("HIFI_CA_FILE");

  int code = kExitOk;
  auto run = [&](auto fn) { return [&, fn] { code = fn(); }; };

  std::string username;
  bool password_stdin = false;
  auto* reg = app.add_subcommand("register", "Create an account and log in with it\n"
                                             "  hifi register --username alice");
  reg->add_option("--username,-u", username, "Account name (asked for if missing)");
  reg->add_flag("--password-stdin", password_stdin, "Read the password from standard input");
  reg->callback(run([&] { return cmd_register(ctx, username, password_stdin); }));

  auto* login = app.add_subcommand("login", "Log in and remember the token\n"
                                             "  echo \"$PASSWORD\" | hifi login -u alice --password-stdin");
  login->add_option("--username,-u", username, "Account name (asked for if missing)");
  login->add_flag("--password-stdin", password_stdin, "Read the password from standard input");
  login->callback(run([&] { return cmd_login(ctx, username, password_stdin); }));

  app.add_subcommand("logout", "End this session and forget the token")
      ->callback(run([&] { return cmd_logout(ctx); }));
  app.add_subcommand("whoami", "Show the account you are logged in as")
      ->callback(run([&] { return cmd_whoami(ctx); }));

  std::vector<std::string> paths;
  int jobs = 4;
  auto* upload = app.add_subcommand(
      "upload", "Upload audio files; folders are searched recursively\n"
                "  hifi upload song.flac ~/Music/Album\n"
                "Files the server already has are skipped (checked by SHA-256 first).");
  upload->add_option("paths", paths, "Files and folders")->required();
  upload->add_option("--jobs,-j", jobs, "Uploads in parallel")->capture_default_str()->check(CLI::Range(1, 32));
  upload->callback(run([&] { return cmd_upload(ctx, paths, jobs); }));

  std::string query;
  int limit = 200;
  auto* songs = app.add_subcommand("songs", "List or search the library\n  hifi songs björk\n  hifi songs --json");
  songs->add_option("query", query, "Words to find in title, artist or album");
  songs->add_option("--limit", limit, "At most this many songs")->capture_default_str()->check(CLI::Range(1, 100000));
  songs->callback(run([&] { return cmd_songs(ctx, query, limit); }));

  std::string song_id, output;
  auto* download = app.add_subcommand(
      "download", "Download a song, resuming an interrupted download and verifying its SHA-256\n"
                  "  hifi download 4d638fea2fdf608a0c62613b0834f670 -o song.flac");
  download->add_option("id", song_id, "Song id (see `hifi songs`)")->required();
  download->add_option("-o,--output", output, "Where to write it")->required();
  download->callback(run([&] { return cmd_download(ctx, song_id, output); }));

  std::string room, name;
  auto* rooms = app.add_subcommand("rooms", "List rooms, or create/delete one\n"
                                            "  hifi rooms\n  hifi rooms create \"Friday night\"");
  rooms->callback([&] {
    if (rooms->get_subcommands().empty()) code = cmd_rooms_list(ctx);
  });
  auto* rooms_create = rooms->add_subcommand("create", "Create a room");
  rooms_create->add_option("name", name, "Room name")->required();
  rooms_create->callback(run([&] { return cmd_rooms_create(ctx, name); }));
  auto* rooms_delete = rooms->add_subcommand("delete", "Delete a room (owner or admin)");
  rooms_delete->add_option("room", room, "Room id or name")->required();
  rooms_delete->callback(run([&] { return cmd_rooms_delete(ctx, room); }));

  std::vector<std::string> song_ids;
  bool next = false;
  std::string item;
  int position = 0;
  auto* queue = app.add_subcommand("queue", "Show or edit a room's queue\n"
                                            "  hifi queue ROOM\n  hifi queue ROOM add SONG_ID...\n"
                                            "  hifi queue ROOM rm ITEM\n  hifi queue ROOM mv ITEM POS\n"
                                            "  hifi queue ROOM clear");
  queue->add_option("room", room, "Room id or name")->required();
  queue->callback([&] {
    if (queue->get_subcommands().empty()) code = cmd_queue_show(ctx, room);
  });
  auto* queue_add = queue->add_subcommand("add", "Add songs at the end (or --next)");
  queue_add->add_option("songs", song_ids, "Song ids")->required();
  queue_add->add_flag("--next", next, "Right after the current song");
  queue_add->callback(run([&] { return cmd_queue_add(ctx, room, song_ids, next); }));
  auto* queue_rm = queue->add_subcommand("rm", "Remove an item (ids are shown by `hifi queue ROOM`)");
  queue_rm->add_option("item", item, "Queue item id")->required();
  queue_rm->callback(run([&] { return cmd_queue_remove(ctx, room, item); }));
  auto* queue_mv = queue->add_subcommand("mv", "Move an item to a position (0 is the top)");
  queue_mv->add_option("item", item, "Queue item id")->required();
  queue_mv->add_option("position", position, "New position")->required();
  queue_mv->callback(run([&] { return cmd_queue_move(ctx, room, item, position); }));
  queue->add_subcommand("clear", "Empty the queue")->callback(run([&] { return cmd_queue_clear(ctx, room); }));

  for (auto [verb, type, help] : {std::tuple{"play", "play", "Start or resume playback"},
                                  std::tuple{"pause", "pause", "Pause playback"},
                                  std::tuple{"skip", "skip", "Skip to the next song"},
                                  std::tuple{"prev", "previous", "Back to the previous song (or the start of this one)"}}) {
    auto* sub = app.add_subcommand(verb, std::string(help) + "\n  hifi " + verb + " ROOM");
    sub->add_option("room", room, "Room id or name")->required();
    std::string t = type;
    sub->callback([&, t] { code = cmd_control(ctx, room, t); });
  }
  std::string seek_to;
  auto* seek = app.add_subcommand("seek", "Jump within the current song\n  hifi seek ROOM 1:30\n  hifi seek ROOM 90");
  seek->add_option("room", room, "Room id or name")->required();
  seek->add_option("position", seek_to, "Seconds or mm:ss")->required();
  seek->callback(run([&] { return cmd_seek(ctx, room, seek_to); }));
  auto* status = app.add_subcommand("status", "What a room is playing, and who listens\n  hifi status ROOM");
  status->add_option("room", room, "Room id or name")->required();
  status->callback(run([&] { return cmd_status(ctx, room); }));

  std::string sink = "default", sync_log, quality = "original";
  int sample_rate = 48000;
  auto* listen = app.add_subcommand(
      "listen", "Play a room's music in sync with everyone else (q or Ctrl-C to stop)\n"
                "  hifi listen ROOM\n"
                "  hifi listen ROOM --sink wav:out.wav --sync-log sync.txt\n"
                "  hifi listen ROOM --quality low\n"
                "Songs are streamed and decoded as they play, a few seconds ahead.\n"
                "In a cluster it joins the least-loaded member, and moves to another if that one fails.");
  listen->add_option("room", room, "Room id or name")->required();
  listen->add_option("--sink", sink,
                     "default (the sound card, via PulseAudio), null (no sound, real-time pace) or wav:PATH")
      ->capture_default_str();
  listen->add_option("--sync-log", sync_log, "Write 'WALL_MS SONG_ID SAMPLE_INDEX SAMPLE_RATE' per output buffer");
  listen->add_option("--quality", quality,
                     "original (the stored file), high (Opus 160 kbit/s) or low (Opus 96 kbit/s), "
                     "transcoded by the server")
      ->capture_default_str()
      ->check(CLI::IsMember({"original", "high", "low"}));
  listen->add_option("--rate", sample_rate, "Output sample rate")->capture_default_str()->check(CLI::Range(8000, 192000));
  bool no_spread = false;
  listen->add_flag("--no-spread", no_spread,
                   "Connect to the first server rather than the least-loaded cluster member");
  listen->callback(run([&] { return cmd_listen(ctx, room, sink, sync_log, quality, sample_rate, !no_spread); }));

  // Credentials for Subsonic apps, one command group per kind.
  std::string credential_name, credential_id;
  for (const auto& [command, kind_of_group, help] :
       {std::tuple{"app-passwords", CredentialCommandKind::kAppPassword,
                   "App passwords for Subsonic apps (token authentication); each is shown once\n"
                   "  hifi app-passwords\n  hifi app-passwords create \"Phone\"\n  hifi app-passwords revoke ID"},
        std::tuple{"api-keys", CredentialCommandKind::kApiKey,
                   "API keys for Subsonic apps (OpenSubsonic apiKey); each is shown once\n"
                   "  hifi api-keys\n  hifi api-keys create \"Laptop\"\n  hifi api-keys revoke ID"}}) {
    const auto kind = kind_of_group;
    auto* group = app.add_subcommand(command, help);
    group->callback([&, group, kind] {
      if (group->get_subcommands().empty()) code = cmd_credential_list(ctx, kind);
    });
    group->add_subcommand("list", "List them, with when each was last used")
        ->callback(run([&, kind] { return cmd_credential_list(ctx, kind); }));
    auto* create = group->add_subcommand("create", "Create one, named after the device or app");
    create->add_option("name", credential_name, "Name, such as the device's")->required();
    create->callback(run([&, kind] { return cmd_credential_create(ctx, kind, credential_name); }));
    auto* revoke = group->add_subcommand("revoke", "Revoke one: apps using it are signed out");
    revoke->add_option("id", credential_id, "Id (see the list)")->required();
    revoke->callback(run([&, kind] { return cmd_credential_revoke(ctx, kind, credential_id); }));
  }

  std::string jukebox_room;
  auto* jukebox = app.add_subcommand("jukebox", "The room your Subsonic jukebox drives (a remote control for it)\n"
                                                "  hifi jukebox\n  hifi jukebox use ROOM\n  hifi jukebox --json");
  jukebox->callback([&, jukebox] {
    if (jukebox->get_subcommands().empty()) code = cmd_jukebox_show(ctx);
  });
  auto* jukebox_use = jukebox->add_subcommand("use", "Make a room your jukebox: Subsonic apps control it");
  jukebox_use->add_option("room", jukebox_room, "Room id or name")->required();
  jukebox_use->callback(run([&] { return cmd_jukebox_use(ctx, jukebox_room); }));

  // Playlists, stars, history, shares (library_commands.cc).
  add_library_commands(app, ctx, code);

  auto* cluster = app.add_subcommand(
      "cluster", "The cluster's members: address and health (for admins also leader, load and free disk)\n"
                 "  hifi cluster\n  hifi cluster --json\n  hifi cluster drain NODE_ID");
  std::string drain_node;
  bool drain_no_wait = false;
  int drain_timeout = 600;
  auto* drain = cluster->add_subcommand(
      "drain", "Take a node out of the cluster without losing a song or a beat (admins): its listeners move to\n"
               "other nodes, its uploads and streams finish, its copies are handed over, then it stops.\n"
               "  hifi cluster drain 3f9c2a1b0d4e5f60");
  drain->add_option("node", drain_node, "The node's id (see `hifi cluster`)")->required();
  drain->add_flag("--no-wait", drain_no_wait, "Return once the node has been asked, without following it");
  drain->add_option("--timeout", drain_timeout, "Seconds to follow the drain before giving up waiting")
      ->capture_default_str()->check(CLI::Range(1, 86400));
  drain->callback(run([&] { return cmd_cluster_drain(ctx, drain_node, !drain_no_wait, drain_timeout); }));
  cluster->callback([&, cluster] {
    if (cluster->get_subcommands().empty()) code = cmd_cluster(ctx);
  });

  // Servers and token are needed by every command; set them up after
  // parsing options but before any callback runs.
  app.parse_complete_callback([&] {
    if (auto loaded = load_config()) {
      ctx.config = std::move(*loaded);
    } else {
      std::cerr << "hifi: warning: ignoring " << config_path() << ": " << loaded.status().message() << "\n";
    }
    // --ca-file (or HIFI_CA_FILE), else the one remembered at login.
    if (ca_file.empty()) ca_file = ctx.config.ca_file;
    if (!ca_file.empty()) {
      std::error_code ec;
      auto absolute = std::filesystem::absolute(ca_file, ec);
      ctx.ca_file = ec ? ca_file : absolute.string();
      if (auto error = trust_ca_file(ctx.ca_file); !error.empty()) throw CLI::ValidationError("--ca-file", error);
    }
    ctx.servers = !servers.empty() ? servers : ctx.config.servers;
    if (ctx.servers.empty()) ctx.servers = {"http://127.0.0.1:8080"};
    for (auto& s : ctx.servers) s = normalize_server_url(s);
    ClientOptions options;
    options.servers = ctx.servers;
    options.token = ctx.config.token;
    ctx.api = std::make_unique<ApiClient>(options);
    // The cluster members learned through these servers are the fallback
    // when they do not answer (not those of another --server's cluster).
    if (uses_remembered_servers(ctx)) {
      for (const auto& m : ctx.config.members) ctx.api->add_server(m);
    }
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  return code;
}
