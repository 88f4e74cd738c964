// Private to the HTTP layer: what a route handler sees of a request, how a
// route declares its authentication, and the helpers handlers share.
// Includes Beast; keep it out of other layers.
//
// One file per resource holds the handlers (auth_api.cc, credentials_api.cc,
// users_api.cc, songs_api.cc, library_api.cc, rooms_api.cc, room_socket.cc,
// annotations_api.cc, playlists_api.cc, shares_api.cc,
// cluster_api.cc, health_api.cc, static_files.cc; the Subsonic API in
// src/subsonic/); each exports its route table below. Responses carrying a blob's bytes are built in
// blob_responses.cc, JSON bodies from domain values in api_json.cc.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/concurrency_limit.h"
#include "common/status.h"
#include "library/accounts.h"
#include "library/catalog.h"
#include "media/transcoder.h"
#include "net/stream.h"
#include "server/config.h"
#include "server/http_server.h"
#include "server/request_target.h"

namespace hifi::http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;
using StringResponse = http::response<http::string_body>;
using HeaderResponse = http::response<http::empty_body>;
using RequestParser = http::request_parser<http::buffer_body>;

struct RequestContext {
  net::Stream& stream;  // in the clear, or TLS with --tls-cert
  beast::flat_buffer& buffer;
  RequestParser& parser;
  const ServerConfig& config;
  Services& services;
  asio::thread_pool& workers;
  // Password hashing only (see offload_password_work); at most
  // password_slots.limit() running or waiting.
  asio::thread_pool& password_workers;
  ConcurrencyLimit& password_slots;

  std::string method;                 // "GET", ...
  std::string route;                  // the matched pattern, for logs and metrics
  RequestTarget::SegmentViews segments;  // decoded path segments (.items)
  std::vector<std::string> params;    // values of the pattern's {} segments
  RequestTarget url;                  // the path and query as sent
  std::string client_address;
  std::optional<User> user;           // the caller, once a route's Auth found one
  std::string token;                  // the session token that authenticated the caller
  // A node-to-node request's signed body digest (hex SHA-256): the body
  // readers (read_body_chunks) refuse a body that does not hash to it. A
  // handler that checks the bytes itself may clear it.
  std::optional<std::string> peer_body_sha256;
  // The sending node's id, on a node-to-node request.
  std::string peer_node;
  // The signed URL that let the request in instead (Auth::kBearerOrSignedUrl),
  // its grant checked.
  std::optional<SignedStream> signed_stream;

  // Filled in by whoever writes the response, for the request log.
  int status = 0;
  std::uint64_t bytes_out = 0;
  // The response is a 200 or 206 with a file's bytes (send_file): the
  // request log sums up runs of them (ConnectionLog).
  bool file_bytes = false;
  bool keep_alive = true;
  // The connection became a WebSocket: the handler moved the stream away
  // and keeps a copy of `connection`; the HTTP session ends without it.
  bool upgraded = false;
  // Keeps the connection counted (connection limits, shutdown, drain,
  // metrics) while anyone holds it; an upgraded connection's handler keeps
  // a copy for as long as the connection lives.
  std::shared_ptr<void> connection;

  const http::request_header<>& header() const { return parser.get().base(); }
  // The decoded value of the query's first parameter named `name`.
  std::optional<std::string> query(std::string_view name) const;
  // The same without a copy, valid for as long as this context.
  std::optional<std::string_view> query_view(std::string_view name) const;
  // query()'s own: the query's parameters, decoded once, on the first
  // query() (a stream request asks for about nine of them).
  mutable std::optional<RequestTarget::ParamViews> query_params_;
};

// nullopt: the handler wrote its response itself (streams).
using Reply = std::optional<StringResponse>;
using Handler = std::function<awaitable<Reply>(RequestContext&)>;

// How a route's caller proves who they are. The router checks it before the
// handler runs, so no handler authenticates by itself; on failure the
// route's API family renders the error.
enum class Auth {
  kNone,                // anyone
  kBearer,              // Authorization: Bearer <session token>; sets ctx.user
  kBearerOrQueryToken,  // also ?access_token=<token> (RFC 6750 2.3): browsers
                        // cannot set headers on a WebSocket
  kBearerOrSignedUrl,   // also ?expires=&user=&epoch=&signature= signed for
                        // the path's first {} (audio elements, redirects);
                        // ctx.user stays empty and ctx.signed_stream is set
                        // for a signed URL
  kPeer,                // X-HiFi-Peer made with the cluster secret
  kAdminOrMetricsToken, // an admin's session (sets ctx.user), or the
                        // --metrics-token-file token (ctx.user stays empty)
};

struct Route {
  http::verb method;
  std::string pattern;  // "/api/v1/songs/{}/stream"
  Auth auth;
  Handler handler;
};

std::vector<Route> health_routes();   // /healthz, /metrics
std::vector<Route> auth_routes();     // register, login, logout, me, password
std::vector<Route> credential_routes();  // the caller's app passwords and API keys
std::vector<Route> user_routes();     // users and invites (admins)
std::vector<Route> song_routes();     // upload, list, get, delete, stream, cover
std::vector<Route> library_routes();  // albums and artists
std::vector<Route> room_routes();     // rooms and their commands
std::vector<Route> room_socket_routes();  // the per-room WebSocket
// Stars and ratings of songs, albums and artists; the caller's favourites,
// play history and saved play queue (annotations_api.cc).
std::vector<Route> annotation_routes();
std::vector<Route> playlist_routes();  // playlists (playlists_api.cc)
// The caller's public links, and the public page /share/{id} (shares_api.cc).
std::vector<Route> share_routes();
// GET /api/v1/cluster and the node-to-node API under /internal/v1.
std::vector<Route> cluster_routes();

// The Subsonic API (src/subsonic/http.cc): every endpoint under /rest/, GET
// and POST, with and without ".view".
std::vector<Route> subsonic_routes();

// GET/HEAD of a path that no API route matches: a file of the web UI, or
// index.html for "/" and for client-side routes (paths without a dot).
awaitable<Reply> serve_static(RequestContext& ctx);

// An error the router or a handler answers with, before it is rendered in
// its API family's format (problem+json for /api/v1).
struct HttpError {
  http::status status;
  std::string type;    // a stable slug
  std::string title;
  std::string detail;
  boost::json::object extensions = {};
};

// An API family renders the errors of the paths under its prefix. The
// router uses it for what it answers itself (unknown path, method not
// allowed, failed authentication, a handler that threw).
struct ApiFamily {
  std::string prefix;  // "/api/", "/rest/"; "" matches every path
  std::function<StringResponse(const RequestContext&, const HttpError&)> render_error;
};
// The families in match order, the catch-all (problem+json) last.
const std::vector<ApiFamily>& api_families();
// How the /rest/ family renders errors: a Subsonic envelope with HTTP 200,
// in the format the query asks for (src/subsonic/http.cc).
StringResponse subsonic_router_error(const RequestContext& ctx, const HttpError& error);

// Checks `auth` for the request (route_auth.cc): nullopt when it passes
// (ctx.user and ctx.token are then set for the bearer kinds), else the error
// to answer. Runs the token lookup on the worker pool.
awaitable<std::optional<HttpError>> authenticate(RequestContext& ctx, Auth auth);

// Problem details (RFC 9457). `type` is a stable slug; it is sent as
// "urn:hifi:problem:<type>". `extensions` are extra members (RFC 9457 3.2).
StringResponse problem(const RequestContext& ctx, http::status status, std::string_view type,
                       std::string_view title, std::string_view detail,
                       const boost::json::object& extensions = {});
StringResponse problem_response(const HttpError& error);
// Maps a service Status to the matching HTTP error / problem.
HttpError error_from_status(const Status& status);
StringResponse problem_from_status(const RequestContext& ctx, const Status& status);
StringResponse json_response(const RequestContext& ctx, http::status status,
                             const boost::json::value& body);
StringResponse bad_request(const RequestContext& ctx, std::string_view detail);
StringResponse not_found_problem(const RequestContext& ctx, std::string_view detail);
// 400 invalid-parameter naming the query parameter or body field at fault.
StringResponse invalid_parameter(const RequestContext& ctx, std::string_view name, std::string_view detail);

// The web app's Content-Security-Policy (static_files.cc).
extern const char* const kAppPolicy;

// --- the caller's view of the library (annotations_api.cc) -------------------

// Song, album and artist JSON with the caller's stars, rating and plays
// (api_json). The list forms read the caller's annotations once
// (Annotations::of_user), not once per item.
boost::json::object my_song(const RequestContext& ctx, const Song& song);
boost::json::array my_songs(const RequestContext& ctx, const std::vector<Song>& songs);
boost::json::array my_albums(const RequestContext& ctx, const std::vector<Album>& albums);
boost::json::array my_artists(const RequestContext& ctx, const std::vector<Artist>& artists);

// The songs of a list of ids that are in the library, in order (others
// are skipped: deleted since).
std::vector<Song> library_songs(const RequestContext& ctx, const std::vector<std::string>& ids);

// A body field holding song ids: an array of at most `max` strings, each a
// song of the library; nullopt when absent or null; else the 400
// invalid-parameter to answer (naming the first unknown id).
std::variant<std::optional<std::vector<std::string>>, StringResponse> song_ids_field(
    const RequestContext& ctx, const boost::json::object& body, std::string_view name, std::size_t max);

// A song by id from this node's catalog, or when the catalog has not seen it
// yet (uploaded through another node a moment ago), read from the store on
// a worker (songs_api.cc).
awaitable<Result<Song>> find_song(RequestContext& ctx, const std::string& id);

// "http://host[:port]" (https when this node speaks TLS, or a TLS proxy in
// front says so with X-Forwarded-Proto) as the client reached this node: the base of links
// handed out for use outside the API, such as a share's public page.
std::string public_base_url(const RequestContext& ctx);

// --- request bodies (request_body.cc) --------------------------------------

// Sends "100 Continue" when the client asked for it; call before reading a body.
awaitable<void> send_continue_if_expected(RequestContext& ctx);

// The one loop that reads a request body: pieces of up to `chunk` bytes,
// each handed to `sink` as it arrives; a sink error stops the read and is
// returned (the rest of the body stays unread and the connection closes).
// The parser's body limit is raised to `limit` first. Returns
// kResourceExhausted past the limit; a connection that breaks mid-body
// throws boost::system::system_error (nothing can be answered).
awaitable<Status> read_body_chunks(RequestContext& ctx, std::size_t limit, std::size_t chunk,
                                   const std::function<Status(std::string_view)>& sink);
// The same with a sink that may wait (e.g. to send the piece on); the
// piece's bytes stay valid until the sink's awaitable completes.
awaitable<Status> read_body_chunks_async(RequestContext& ctx, std::size_t limit, std::size_t chunk,
                                         const std::function<awaitable<Status>(std::string_view)>& sink);

// Reads the rest of a small request body into memory, up to limit bytes;
// kResourceExhausted past the limit.
awaitable<Result<std::string>> read_body(RequestContext& ctx, std::size_t limit);

// Reads and parses a JSON object body, or produces the problem to answer.
awaitable<std::variant<boost::json::object, StringResponse>> read_json(RequestContext& ctx);

// --- writing (http_response.cc) ----------------------------------------------

// Writes a response header (the caller set Content-Length), with the
// connection's keep-alive, server and CORS fields; records the status.
awaitable<void> write_header(RequestContext& ctx, HeaderResponse& header);
// Writes a string response (header only for HEAD), recording status and
// bytes in ctx.
awaitable<void> write_response(RequestContext& ctx, StringResponse response);

// The header of a response whose body is a file's bytes (send_file),
// written straight as HTTP/1.1 text into one buffer, without Beast's field
// container: the path of every stream, range and cover, where building the
// fields cost more than the kernel's sendfile of 16 KiB. The caller sets
// each field at most once, Content-Length included; send_file adds the
// connection's fields.
class FileHeader {
 public:
  explicit FileHeader(http::status status);
  // CR, LF and NUL in a value (which no field HiFi sends may carry) become
  // spaces, so a value can never end the header early.
  void set(std::string_view name, std::string_view value);
  void set(http::field name, std::string_view value) { set(http::to_string(name), value); }
  void set_number(std::string_view name, std::uint64_t value);
  http::status status() const { return status_; }
  bool has_policy() const { return has_policy_; }  // Content-Security-Policy
  // The whole header, ended by its blank line; set() no more after it.
  const std::string& finish() {
    text_ += "\r\n";
    return text_;
  }

 private:
  http::status status_;
  std::string text_;
  bool has_policy_ = false;
};

// Writes `header` (whose Content-Length the caller set) and then `length`
// bytes of the file fd from `offset`: with sendfile(2) in the clear, so the
// bytes never pass through user space; read and encrypted piece by piece
// through TLS. For HEAD only the header is sent.
awaitable<void> send_file(RequestContext& ctx, FileHeader& header, int fd,
                          std::uint64_t offset, std::uint64_t length);

// Closes a file descriptor when it goes out of scope (-1: nothing to close).
struct FileCloser {
  int fd;
  ~FileCloser();
};

// Counts a response body that streams (a song, a proxied blob) in the
// active-streams gauge for as long as it lives.
class StreamGauge {
 public:
  explicit StreamGauge(Metrics& metrics);
  ~StreamGauge();
  StreamGauge(const StreamGauge&) = delete;
  StreamGauge& operator=(const StreamGauge&) = delete;

 private:
  Metrics& metrics_;
};

// --- blobs (blob_responses.cc) -----------------------------------------------

// GET/HEAD of a blob this node holds, honouring Range, If-Range and
// If-None-Match; download_name (if any) becomes a Content-Disposition.
awaitable<Reply> serve_blob(RequestContext& ctx, const ContentHash& sha256,
                            const std::string& content_type, const std::string& download_name);

// GET/HEAD of a local file whose bytes hash to sha256, like serve_blob (a
// finished transcode in the cache).
awaitable<Reply> serve_file(RequestContext& ctx, const std::string& path, const ContentHash& sha256,
                            const std::string& content_type, const std::string& download_name);

// 307 to a signed stream URL of the song on the least loaded live node that
// holds it, with extra_query ("&name=value...") appended; 503 when none does.
awaitable<Reply> redirect_to_holder(RequestContext& ctx, const Song& song, std::string_view extra_query);

// A song's bytes or cover: served from this node when it holds them, else a
// 307 to a signed URL on the least loaded live holder, or (--read-mode
// proxy, and always for covers, which need no signed link) the bytes
// fetched from that holder. 503 when no live node holds them. kCover is
// only for a song with a cover.
enum class BlobKind { kSong, kCover };
awaitable<Reply> serve_song_blob(RequestContext& ctx, const Song& song, BlobKind kind,
                                 const std::string& download_name);

// The bytes of the song that a player's seek to output frame `frame` at
// `rate` Hz, and the second of decoding after it (with `with_open`, and
// opening the song before), read: 206
// multipart/byteranges, planned on this node's copy
// (seek_reads_responses.cc). A node without a copy redirects to a holder,
// or in --read-mode proxy answers 409 no-local-copy; 422 undecodable when
// the song does not decode.
awaitable<Reply> serve_seek_reads(RequestContext& ctx, const Song& song, std::uint64_t frame, int rate,
                                  bool with_open);

// A 307 to this same request (path and query) on the least loaded live node
// that holds the song's bytes or cover, for answers made from them there
// (a resized cover, lyrics read from the file); 503 when none does.
awaitable<Reply> redirect_request_to_holder(RequestContext& ctx, const Song& song, BlobKind kind);

// A song's cover scaled down to at most `size` pixels on its longer side,
// as JPEG (cover_responses.cc): from the transcode cache when there, else
// resized on the worker pool within a transcode slot (503 when all are
// busy) and cached. A cover no larger than that, or one that cannot be
// decoded, is sent as it is; a node that lacks the cover redirects to one
// that holds it, the query kept. Only for a song with a cover.
awaitable<Reply> serve_resized_cover(RequestContext& ctx, const Song& song, int size);

// A song transcoded as the request asks (transcode_responses.cc): from the
// transcode cache when there, else encoded as the client reads it (chunked);
// 503 when every transcode slot is busy; a redirect when this node lacks
// the song's bytes.
awaitable<Reply> serve_transcode(RequestContext& ctx, const Song& song, const media::TranscodeRequest& request);

// --- running blocking work ---------------------------------------------------

// Runs f() on `pool` and resumes on the connection's thread.
template <typename F>
awaitable<std::invoke_result_t<F>> offload_to(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  std::optional<R> result;
  std::exception_ptr error;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&](auto handler) {
        asio::post(pool, [&, handler = std::move(handler)]() mutable {
          try {
            result.emplace(f());
          } catch (...) {
            error = std::current_exception();
          }
          auto executor = asio::get_associated_executor(handler);
          asio::post(executor, std::move(handler));
        });
      },
      asio::use_awaitable);
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

// Runs f() on the worker pool and resumes on the connection's thread. Not
// a coroutine itself: it hands back offload_to's awaitable, so the hot path
// (every token check) pays for one coroutine frame, not two.
template <typename F>
awaitable<std::invoke_result_t<F>> offload(RequestContext& ctx, F f) {
  return offload_to(ctx.workers, std::move(f));
}

// Makes the calling thread yield the CPU to the others (nice 10), once per
// thread: password hashing runs so, and token checks and the network
// threads are not held up behind it on a busy or small machine.
void lower_this_thread_priority();

// Runs f(), which hashes or verifies a password, on the password pool;
// nullopt, at once, when password_slots are all taken (answer 503 then:
// see password_busy()).
template <typename F>
awaitable<std::optional<std::invoke_result_t<F>>> offload_password_work(RequestContext& ctx, F f) {
  auto slot = ctx.password_slots.try_acquire();
  if (!slot) co_return std::nullopt;
  co_return co_await offload_to(ctx.password_workers, [f = std::move(f)]() mutable {
    lower_this_thread_priority();
    return f();
  });
}

// The 503 for a request refused by offload_password_work().
StringResponse password_busy(const RequestContext& ctx);

// 503 transcoder-busy with Retry-After: 2, `detail` saying what the caller
// can do instead: every transcode slot (--max-transcodes) is taken.
StringResponse transcoder_busy(const RequestContext& ctx, const std::string& detail);

}  // namespace hifi::http_internal
