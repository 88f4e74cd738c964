// Songs: upload, list and search, one song, delete, stream or download, a
// signed stream URL, cover art.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <future>

#include "cluster/cluster_node.h"
#include "common/random.h"
#include "common/sha256.h"
#include "server/api_json.h"
#include "server/digest_header.h"
#include "server/http_internal.h"
#include "server/metrics.h"
#include "server/json_macros.h"
#include "server/multipart.h"
#include "server/request_json.h"
#include "server/storage_limits.h"
#include "server/upload_tee.h"

namespace hifi::http_internal {
namespace json = boost::json;
namespace {

constexpr std::size_t kUploadChunk = 256 * 1024;
constexpr std::size_t kMaxFormFieldBytes = 64 * 1024;
// Room for multipart framing and small fields around the song's bytes; the
// blob writer enforces the exact limit on the bytes themselves.
constexpr std::size_t kMultipartOverhead = 64 * 1024;

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// The song named in the path.
awaitable<Result<Song>> path_song(RequestContext& ctx) { return find_song(ctx, ctx.params[0]); }

StringResponse payload_too_large(const RequestContext& ctx, std::string_view detail) {
  return problem(ctx, http::status::payload_too_large, "payload-too-large", "Payload too large", detail);
}

// Where an upload's body goes: straight into the blob writer, or through a
// multipart/form-data parser whose one file part goes there.
class UploadSink {
 public:
  UploadSink(BlobWriter& writer, std::string filename) : writer_(writer), filename_(std::move(filename)) {}

  // Switches to multipart/form-data with the boundary of `content_type`.
  Status use_form(const std::string& content_type) {
    auto boundary = multipart_boundary(content_type);
    if (!boundary) return boundary.status();
    MultipartParser::Handler handler;
    handler.on_part_begin = [this](const MultipartPartHeaders& part) -> Status {
      in_file_ = !part.filename.empty() || part.name == "file";
      if (in_file_) {
        if (saw_file_) return invalid_argument("send one file per request");
        saw_file_ = true;
        filename_ = part.filename;
      }
      return Status::ok();
    };
    handler.on_part_data = [this](std::string_view data) -> Status {
      if (in_file_) {
        auto s = writer_.write(data);
        if (s && keep_fed_) copied_.append(data);
        return s;
      }
      field_bytes_ += data.size();
      if (field_bytes_ > kMaxFormFieldBytes) return resource_exhausted("form fields are too large");
      return Status::ok();
    };
    handler.on_part_end = [this]() -> Status {
      in_file_ = false;
      return Status::ok();
    };
    form_.emplace(*boundary, std::move(handler));
    return Status::ok();
  }

  // From now on the song's bytes of each piece are kept in fed() (for
  // sending them on) until the next feed().
  void keep_fed() { keep_fed_ = true; }

  Status feed(std::string_view piece) {
    fed_.clear();
    if (!form_) {
      auto s = writer_.write(piece);
      if (s && keep_fed_) fed_.push_back(asio::buffer(piece));
      return s;
    }
    // The form parser may hand out bytes it carried over in its own
    // buffer, which changes before feed() returns: those are copied.
    copied_.clear();
    auto s = form_->feed(piece);
    if (!copied_.empty()) fed_.push_back(asio::buffer(copied_));
    return s;
  }
  // The song's bytes of the last piece fed (with keep_fed()).
  const std::vector<asio::const_buffer>& fed() const { return fed_; }

  // After the whole body arrived.
  Status finish() {
    if (!form_) return Status::ok();
    if (auto s = form_->finish(); !s) return s;
    if (!saw_file_) return invalid_argument("the form has no file part (name it 'file')");
    return Status::ok();
  }

  const std::string& filename() const { return filename_; }

 private:
  BlobWriter& writer_;
  std::string filename_;
  std::optional<MultipartParser> form_;
  bool saw_file_ = false;
  bool in_file_ = false;
  std::size_t field_bytes_ = 0;
  bool keep_fed_ = false;
  std::vector<asio::const_buffer> fed_;
  std::string copied_;
};

// Ends the streams of `tee` and hands the copies the other nodes hold to
// whoever waits on `done` (an upload's replication, on a worker thread).
awaitable<void> finish_streams(std::shared_ptr<UploadTee> tee,
                               std::shared_ptr<std::promise<std::vector<StagedCopy>>> done) {
  std::vector<StagedCopy> copies;
  try {
    copies = co_await tee->finish();
  } catch (const std::exception& e) {
    spdlog::warn("streams of an upload ended with an error: {}", e.what());
  }
  done->set_value(std::move(copies));
}

// The copies in `streamed`, or none when its streams did not end within
// `limit` (every step of theirs has a deadline, so only a server that
// stopped its I/O threads meanwhile gets here) or never will.
std::vector<StagedCopy> streamed_copies(const std::shared_future<std::vector<StagedCopy>>& streamed,
                                        std::chrono::milliseconds limit) {
  try {
    if (streamed.wait_for(limit) != std::future_status::ready) {
      spdlog::warn("the streams of an upload did not end within {} ms; its copies are sent after the commit",
                   limit.count());
      return {};
    }
    return streamed.get();
  } catch (const std::future_error&) {
    return {};
  }
}

// POST /api/v1/songs: the raw bytes (audio/*, application/octet-stream) or
// a form with one file part; an optional Repr-Digest is checked.
awaitable<Reply> upload_song(RequestContext& ctx) {
  auto& metrics = ctx.services.metrics;
  auto reject = [&](StringResponse res) {
    metrics.count_upload("rejected");
    return res;
  };
  const auto max = ctx.config.max_upload_bytes;
  std::string content_type(ctx.header()[http::field::content_type]);
  std::string lowered = content_type;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), ::tolower);
  const bool multipart = lowered.rfind("multipart/form-data", 0) == 0;
  const bool raw = lowered.rfind("audio/", 0) == 0 || lowered.rfind("application/octet-stream", 0) == 0;
  if (!multipart && !raw) {
    co_return reject(problem(ctx, http::status::unsupported_media_type, "unsupported-media-type",
                             "Unsupported media type",
                             "send the song as the raw body (Content-Type audio/* or "
                             "application/octet-stream) or as multipart/form-data"));
  }
  const auto body_limit = max + (multipart ? kMultipartOverhead : 0);
  if (auto len = ctx.parser.content_length(); len && *len > body_limit) {
    co_return reject(payload_too_large(ctx, "songs may be at most " + std::to_string(max) + " bytes"));
  }
  std::optional<Digest> expected;
  if (auto header = ctx.header()["Repr-Digest"]; !header.empty()) {
    auto parsed = parse_sha256_digest_header(header);
    if (!parsed) co_return reject(bad_request(ctx, "Repr-Digest: " + parsed.status().message()));
    expected = *parsed;
  }
  // Quota and free space: refused before a byte of the body is read when
  // Content-Length tells the size, else as soon as the bytes pass either.
  UploadBudget budget(ctx);
  std::optional<std::uint64_t> song_bytes;
  if (auto len = ctx.parser.content_length()) {
    song_bytes = multipart ? (*len > kMultipartOverhead ? *len - kMultipartOverhead : 0) : *len;
  }
  // Bytes the library has already take no more room: a client that names
  // them in Repr-Digest is not refused up front.
  if (expected && ctx.services.catalog.find_by_sha256(ContentHash::from_digest(*expected))) budget.waive_quota();
  if (auto refused = budget.refuse_before(song_bytes)) co_return reject(std::move(*refused));

  auto writer_or = ctx.services.blobs.begin_write(max);
  if (!writer_or) co_return problem_from_status(ctx, writer_or.status());
  auto writer = std::move(*writer_or);
  UploadSink sink(*writer, percent_decode(ctx.header()["X-Filename"]));
  if (multipart) {
    if (auto s = sink.use_form(content_type); !s) co_return reject(bad_request(ctx, s.message()));
  }
  // In a cluster the song's bytes go on to the nodes that will hold copies
  // while they arrive, so that all copies are written at once; bytes the
  // library already has need no copies.
  auto& replicator = ctx.services.cluster.replicator();
  std::shared_ptr<UploadTee> tee;
  const auto known = expected ? std::optional(ContentHash::from_digest(*expected)) : std::nullopt;
  if (!known || !ctx.services.catalog.find_by_sha256(*known)) {
    auto targets = replicator.stream_targets(known ? *known : ContentHash::of(random_hex(16)));
    if (!targets.empty()) {
      // A form's length bounds its file's (so that a node short of room
      // refuses at once).
      auto bound = song_bytes;
      if (multipart) {
        if (auto len = ctx.parser.content_length()) bound = std::min<std::uint64_t>(*len, max);
      }
      tee = co_await UploadTee::open(ctx, std::move(targets), known, bound);
      if (tee->open_streams() == 0) tee.reset();
      if (tee) sink.keep_fed();
    }
  }
  const std::function<awaitable<Status>(std::string_view)> take_piece =
      [&](std::string_view piece) -> awaitable<Status> {
    if (auto s = budget.check(writer->size() + piece.size()); !s) co_return s;
    auto s = sink.feed(piece);
    if (s && tee) co_await tee->send(sink.fed());
    co_return s;
  };
  Status received;
  try {
    received = co_await read_body_chunks_async(ctx, body_limit, kUploadChunk, take_piece);
  } catch (const boost::system::system_error& e) {
    metrics.count_upload("failed");
    spdlog::info("upload from {} aborted: {}", ctx.client_address, e.code().message());
    throw;  // the connection is unusable; nothing was stored
  }
  if (received) received = sink.finish();
  if (!received) {
    // The writer goes with this scope, and its temporary with it.
    if (budget.refusal()) co_return reject(*budget.refusal());
    if (auto refused = budget.refuse_failed(received)) co_return reject(std::move(*refused));
    if (received.code() == Code::kResourceExhausted) co_return reject(payload_too_large(ctx, received.message()));
    if (received.code() == Code::kInvalidArgument) co_return reject(bad_request(ctx, received.message()));
    co_return problem_from_status(ctx, received);
  }
  if (expected && *expected != writer->digest()) {
    co_return reject(problem(ctx, http::status::bad_request, "digest-mismatch", "Digest mismatch",
                             "the body's SHA-256 does not match the Repr-Digest header; the upload "
                             "was corrupted on the way and nothing was stored"));
  }
  if (ctx.services.catalog.find_by_sha256(ContentHash::from_digest(writer->digest()))) {
    // Bytes the library has need no copies: the streams close mid-body,
    // and the other nodes keep nothing.
    tee.reset();
  } else if (auto refused = budget.refuse_after(writer->size())) {
    co_return reject(std::move(*refused));
  }
  // The streams end while this node probes and commits its own copy; the
  // replication waits for them before it commits the other copies.
  WaitForStagedCopies staged;
  std::shared_future<std::vector<StagedCopy>> streamed;
  std::chrono::milliseconds finish_limit{0};
  // Set once the replication got the copies (it commits or aborts them).
  auto handed_over = std::make_shared<std::atomic<bool>>(false);
  if (tee) {
    finish_limit = tee->finish_limit();
    auto done = std::make_shared<std::promise<std::vector<StagedCopy>>>();
    streamed = done->get_future().share();
    // From here on only finish_streams touches the tee.
    asio::co_spawn(ctx.stream.get_executor(), finish_streams(tee, done), asio::detached);
    staged = [streamed, finish_limit, handed_over] {
      auto copies = streamed_copies(streamed, finish_limit);
      if (streamed.wait_for(std::chrono::seconds(0)) == std::future_status::ready) *handed_over = true;
      return copies;
    };
  }
  auto outcome = co_await offload(ctx, [&] {
    return ctx.services.catalog.add_upload(*writer, sink.filename(), ctx.user->id, staged);
  });
  if (tee) {
    // Copies the replication did not get (the upload was refused, named
    // bytes the library had, or the streams ended too late) go, and so do
    // those whose node never answered; the others were committed or
    // dropped by the replication. After the answer, on a worker: a frozen
    // node's abort waits for its timeout.
    const bool handed = outcome && *handed_over;
    asio::post(ctx.workers, [streamed, &replicator, finish_limit, handed] {
      auto copies = streamed_copies(streamed, finish_limit);
      if (handed) std::erase_if(copies, [](const StagedCopy& c) { return c.answered; });
      if (!copies.empty()) replicator.abort_staged(copies);
    });
  }
  if (!outcome) {
    if (auto refused = budget.refuse_failed(outcome.status())) co_return reject(std::move(*refused));
    if (outcome.status().code() == Code::kUnsupported) {
      co_return reject(problem(ctx, http::status::unsupported_media_type, "unsupported-media-type",
                               "Not a playable audio file", outcome.status().message()));
    }
    metrics.count_upload("failed");
    co_return problem_from_status(ctx, outcome.status());
  }
  metrics.count_upload(outcome->created ? "created" : "duplicate");
  if (outcome->created) {
    spdlog::info("song {} uploaded by '{}': {} - {} ({} bytes)", outcome->song.id,
                 ctx.user->username, outcome->song.artist, outcome->song.title, outcome->song.size);
  }
  auto res = json_response(ctx, outcome->created ? http::status::created : http::status::ok,
                           my_song(ctx, outcome->song));
  res.set(http::field::location, "/api/v1/songs/" + outcome->song.id);
  co_return res;
}

awaitable<Reply> list_songs(RequestContext& ctx) {
  SongQuery q;
  q.text = ctx.query("q").value_or("");
  q.cursor = ctx.query("cursor").value_or("");
  q.album_id = ctx.query("album").value_or("");
  q.artist_id = ctx.query("artist").value_or("");
  if (auto sort = ctx.query("sort")) {
    auto parsed = parse_song_sort(*sort);
    if (!parsed) co_return bad_request(ctx, "sort must be one of title, artist, album, uploaded_at, duration");
    q.sort = *parsed;
  }
  if (auto order = ctx.query("order")) {
    if (*order != "asc" && *order != "desc") co_return bad_request(ctx, "order must be asc or desc");
    q.descending = *order == "desc";
  }
  if (auto limit = ctx.query("limit")) {
    char* end = nullptr;
    auto n = std::strtol(limit->c_str(), &end, 10);
    if (limit->empty() || *end != '\0' || n < 1 || n > 500) {
      co_return bad_request(ctx, "limit must be an integer from 1 to 500");
    }
    q.limit = static_cast<std::size_t>(n);
  }
  if (q.text.size() > 256) co_return bad_request(ctx, "q must be at most 256 bytes");
  auto page = ctx.services.catalog.query(q);
  if (!page) co_return problem_from_status(ctx, page.status());
  co_return json_response(ctx, http::status::ok,
                          {{"items", my_songs(ctx, page->items)},
                           {"next", page->next.empty() ? json::value(nullptr) : json::value(page->next)}});
}

awaitable<Reply> get_song(RequestContext& ctx) {
  auto song = co_await path_song(ctx);
  if (!song) co_return problem_from_status(ctx, song.status());
  auto replicas = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().replicas(song->sha256); });
  if (!replicas) co_return problem_from_status(ctx, replicas.status());
  auto o = my_song(ctx, *song);
  json::array holders;
  for (const auto& r : *replicas) {
    holders.push_back({{"id", r.node_id},
                       {"advertise", r.member ? json::value(r.member->advertise) : json::value(nullptr)},
                       {"live", r.member.has_value()}});
  }
  o["replicas"] = std::move(holders);
  co_return json_response(ctx, http::status::ok, o);
}

awaitable<Reply> get_song_by_sha256(RequestContext& ctx) {
  auto sha = ContentHash::parse(ctx.params[0]);
  if (!sha) co_return bad_request(ctx, sha.status().message());
  auto song = ctx.services.catalog.find_by_sha256(*sha);
  if (!song) co_return not_found_problem(ctx, "no song has these bytes");
  co_return json_response(ctx, http::status::ok, my_song(ctx, *song));
}

awaitable<Reply> delete_song(RequestContext& ctx) {
  const auto& id = ctx.params[0];
  auto s = co_await offload(ctx, [&] { return ctx.services.catalog.remove(id, *ctx.user); });
  if (!s) co_return problem_from_status(ctx, s);
  spdlog::info("song {} deleted by '{}'", id, ctx.user->username);
  co_return StringResponse{http::status::no_content, 11};
}

awaitable<Reply> edit_song(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  SongTagEdit edit;
  for (auto [name, field] : {std::pair{"title", &edit.title}, {"artist", &edit.artist}, {"album", &edit.album},
                             {"album_artist", &edit.album_artist}, {"genre", &edit.genre}}) {
    HIFI_FIELD(value, fields.optional_string(name));
    *field = std::move(value);
  }
  for (auto [name, field] : {std::pair{"track", &edit.track}, {"disc", &edit.disc}, {"year", &edit.year}}) {
    HIFI_FIELD(value, fields.optional_int(name));
    if (value && (*value < 0 || *value > 9999)) co_return bad_request(ctx, std::string(name) + " is out of range");
    if (value) *field = static_cast<int>(*value);
  }
  if (edit.empty()) {
    co_return bad_request(ctx, "nothing to change: send title, artist, album, album_artist, genre, track, disc or year");
  }
  auto song = co_await offload(ctx, [&] { return ctx.services.catalog.edit_tags(ctx.params[0], edit, *ctx.user); });
  if (!song) co_return problem_from_status(ctx, song.status());
  spdlog::info("song {} edited by '{}'", song->id, ctx.user->username);
  co_return json_response(ctx, http::status::ok, my_song(ctx, *song));
}

awaitable<Reply> stream_url(RequestContext& ctx) {
  auto song = co_await path_song(ctx);
  if (!song) co_return problem_from_status(ctx, song.status());
  // The caller's own: it ends when they sign out everywhere or are disabled.
  const SignedStream signed_stream{{ctx.user->id, ctx.user->sessions_epoch},
                                   (ctx.services.clock.now_ms() + ctx.config.signed_url_ttl_ms) / 1000};
  co_return json_response(ctx, http::status::ok,
                          {{"url", ctx.services.signer.stream_path(song->id, signed_stream)},
                           {"expires_at", signed_stream.expires_s * 1000}});
}

// A query parameter that must be a whole number in [min, max]; nullopt
// when absent.
Result<std::optional<std::int64_t>> int_param(const RequestContext& ctx, std::string_view name, std::int64_t min,
                                              std::int64_t max) {
  auto text = ctx.query(name);
  if (!text) return std::optional<std::int64_t>();
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max) {
    return invalid_argument(std::string(name) + " must be a whole number from " + std::to_string(min) + " to " +
                            std::to_string(max));
  }
  return std::optional<std::int64_t>(v);
}

awaitable<Reply> stream_song(RequestContext& ctx) {
  auto song = co_await path_song(ctx);
  if (!song) co_return problem_from_status(ctx, song.status());
  // ?format=opus|mp3|aac|flac&bitrate=KBPS&offset_ms=N&duration_ms=N:
  // transcoded (a piece of the song with a duration); raw (the default) is
  // the stored file. ?seek_frame=F&seek_rate=R: the bytes of the stored
  // file a player's seek to output frame F at R Hz reads (seek_reads_responses.cc).
  const auto format_name = ctx.query("format").value_or("raw");
  const auto format = media::parse_transcode_format(format_name);
  if (!format && format_name != "raw") {
    co_return invalid_parameter(ctx, "format", "format must be one of opus, mp3, aac, flac or raw, not '" +
                                                   format_name.substr(0, 32) + "'");
  }
  auto bitrate = int_param(ctx, "bitrate", media::kMinTranscodeBitrate, media::kMaxTranscodeBitrate);
  if (!bitrate) co_return invalid_parameter(ctx, "bitrate", bitrate.status().message() + " (kbit/s)");
  auto offset = int_param(ctx, "offset_ms", 0, std::max<std::int64_t>(song->duration_ms, 0));
  if (!offset) co_return invalid_parameter(ctx, "offset_ms", offset.status().message() + " (the song's length)");
  auto duration = int_param(ctx, "duration_ms", 1, 24LL * 3600 * 1000);
  if (!duration) co_return invalid_parameter(ctx, "duration_ms", duration.status().message());
  auto seek_rate = int_param(ctx, "seek_rate", 8000, 384000);
  if (!seek_rate) co_return invalid_parameter(ctx, "seek_rate", seek_rate.status().message() + " (Hz)");
  // Up to a second past the song's length (which is rounded), at most 24
  // hours (also when the length is not known).
  const std::int64_t rate = seek_rate->value_or(384000);
  const std::int64_t max_seconds = song->duration_ms > 0 ? std::min<std::int64_t>(song->duration_ms / 1000 + 1, 24LL * 3600)
                                                         : 24LL * 3600;
  const std::int64_t max_frame = max_seconds * rate;
  auto seek_frame = int_param(ctx, "seek_frame", 0, max_frame);
  if (!seek_frame) co_return invalid_parameter(ctx, "seek_frame", seek_frame.status().message() + " (the song's length)");
  if (seek_frame->has_value() || seek_rate->has_value()) {
    if (!seek_frame->has_value() || !seek_rate->has_value()) {
      co_return invalid_parameter(ctx, seek_frame->has_value() ? "seek_rate" : "seek_frame",
                                  "seek_frame and seek_rate go together");
    }
    if (format || offset->value_or(0) > 0 || duration->has_value()) {
      co_return invalid_parameter(ctx, "seek_frame", "seek_frame is for the stored file (no format, offset_ms or duration_ms)");
    }
    const auto seek_open = ctx.query("seek_open").value_or("0");
    if (seek_open != "0" && seek_open != "1") co_return invalid_parameter(ctx, "seek_open", "seek_open must be 0 or 1");
    co_return co_await serve_seek_reads(ctx, *song, static_cast<std::uint64_t>(**seek_frame),
                                        static_cast<int>(**seek_rate), seek_open == "1");
  }
  if (format) {
    media::TranscodeRequest request{*format, static_cast<int>(bitrate->value_or(0)), offset->value_or(0),
                                    duration->value_or(0)};
    co_return co_await serve_transcode(ctx, *song, request);
  }
  if (duration->has_value()) {
    co_return invalid_parameter(ctx, "duration_ms", "duration_ms needs format=opus, mp3, aac or flac");
  }
  if (offset->value_or(0) > 0) {
    co_return invalid_parameter(ctx, "offset_ms",
                                "offset_ms needs format=opus, mp3, aac or flac; the stored file (raw) is read from a "
                                "position with a Range request");
  }
  std::string download;
  if (ctx.query("download") == std::optional<std::string>("1")) {
    download = song->filename.empty() ? song->title : song->filename;
  }
  co_return co_await serve_song_blob(ctx, *song, BlobKind::kSong, download);
}

awaitable<Reply> song_cover(RequestContext& ctx) {
  auto song = co_await path_song(ctx);
  if (!song) co_return problem_from_status(ctx, song.status());
  if (!song->cover_sha256) co_return not_found_problem(ctx, "this song has no cover art");
  co_return co_await serve_song_blob(ctx, *song, BlobKind::kCover, "");
}

}  // namespace

awaitable<Result<Song>> find_song(RequestContext& ctx, const std::string& id) {
  auto song = ctx.services.catalog.get(id);
  if (song || song.status().code() != Code::kNotFound) co_return song;
  co_return co_await offload(ctx, [&] { return ctx.services.catalog.get_or_read_through(id); });
}

std::vector<Route> song_routes() {
  using V = http::verb;
  return {
      {V::post, "/api/v1/songs", Auth::kBearer, upload_song},
      {V::get, "/api/v1/songs", Auth::kBearer, list_songs},
      {V::get, "/api/v1/songs/by-sha256/{}", Auth::kBearer, get_song_by_sha256},
      {V::get, "/api/v1/songs/{}", Auth::kBearer, get_song},
      {V::delete_, "/api/v1/songs/{}", Auth::kBearer, delete_song},
      {V::patch, "/api/v1/songs/{}", Auth::kBearer, edit_song},
      {V::get, "/api/v1/songs/{}/stream", Auth::kBearerOrSignedUrl, stream_song},
      {V::get, "/api/v1/songs/{}/stream-url", Auth::kBearer, stream_url},
      {V::get, "/api/v1/songs/{}/cover", Auth::kBearer, song_cover},
  };
}

}  // namespace hifi::http_internal
