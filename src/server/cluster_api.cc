// The cluster's HTTP face: GET /api/v1/cluster for signed-in clients and the
// node-to-node API under /internal/v1 (Auth::kPeer: the cluster secret).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <tuple>

#include "cluster/member.h"
#include "cluster/staged_copies.h"
#include "common/content_hash.h"
#include "server/http_internal.h"
#include "server/json_macros.h"
#include "server/request_json.h"
#include "server/storage_limits.h"

namespace hifi::http_internal {
namespace json = boost::json;

namespace {

constexpr std::size_t kTransferChunk = 256 * 1024;

StringResponse blob_too_large(const RequestContext& ctx) {
  return problem(ctx, http::status::payload_too_large, "payload-too-large", "Payload too large",
                 "blobs may be at most " + std::to_string(ctx.config.max_upload_bytes) + " bytes");
}

// Each member's place in the order clients spread long-lived connections
// by (members in service before draining ones, then fewest active streams,
// then fewest connections): 0 for the least loaded; equally loaded members
// share a rank.
std::vector<int> load_ranks(const std::vector<cluster::Member>& members) {
  auto load = [](const cluster::Member& m) {
    return std::tuple(!cluster::in_service(m), m.load.active_streams, m.load.connections);
  };
  std::vector<std::tuple<bool, std::int64_t, std::int64_t>> distinct;
  for (const auto& m : members) distinct.emplace_back(load(m));
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<int> ranks;
  for (const auto& m : members) {
    ranks.push_back(static_cast<int>(std::lower_bound(distinct.begin(), distinct.end(), load(m)) - distinct.begin()));
  }
  return ranks;
}

// GET /api/v1/cluster. Every signed-in user gets what a client needs to
// fail over and spread: each member's id, advertised URL, health and load
// rank. Admins also get the leader, R, and each member's load figures,
// disk, version and times.
awaitable<Reply> cluster_info(RequestContext& ctx) {
  const auto& membership = ctx.services.cluster.membership();
  const auto leader = membership.leader();
  const auto list = membership.members();
  const auto ranks = load_ranks(list);
  const bool admin = ctx.user->is_admin();
  json::array members;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& m = list[i];
    json::object o = admin ? cluster::member_to_json(m)
                           : json::object{{"id", m.id}, {"advertise", m.advertise}, {"health", to_string(m.health)}};
    if (admin) o["leader"] = leader == m.id;
    o["self"] = m.id == membership.self_id();
    o["rank"] = ranks[i];
    members.push_back(std::move(o));
  }
  json::object doc{{"self", membership.self_id()}, {"members", std::move(members)}};
  if (admin) {
    doc["leader"] = leader ? json::value(*leader) : json::value(nullptr);
    doc["replication_factor"] = ctx.services.cluster.replicator().replication_factor();
    // The autoscaler's last decision (the leader's, as published).
    if (const auto* scaler = ctx.services.cluster.autoscaler()) {
      if (auto published = scaler->published()) {
        json::object scale;
        for (const char* key : {"wanted", "current", "desired", "reason", "last_change", "provisioner", "by"}) {
          if (auto* v = published->if_contains(key)) scale[key] = *v;
        }
        if (auto* pending = published->if_contains("pending")) scale["pending"] = *pending;
        doc["scale"] = std::move(scale);
      }
    }
  }
  co_return json_response(ctx, http::status::ok, std::move(doc));
}

// POST /api/v1/cluster/members/{id}/drain (admins): asks that node to
// drain (it notices within a second, through the store) and answers 202.
// 404 for a node that is not a live member, 409 when it is the only one in
// service (nowhere to move its listeners and copies).
awaitable<Reply> drain_member(RequestContext& ctx) {
  if (!ctx.user->is_admin()) {
    co_return problem_from_status(ctx, permission_denied("only an admin may drain a node"));
  }
  const auto& id = ctx.params[0];
  auto& membership = ctx.services.cluster.membership();
  auto asked = co_await offload(ctx, [&] { return membership.request_drain(id, ctx.user->username); });
  if (!asked) co_return problem_from_status(ctx, asked);
  spdlog::info("{} asked node {} to drain", ctx.user->username, id);
  co_return json_response(ctx, http::status::accepted, {{"id", id}, {"draining", true}});
}

// A copy this node already holds is wanted again: garbage collection must
// spare it (it spares recent files) and the index must name it. Blocks.
Status keep_local_copy(RequestContext& ctx, const ContentHash& sha) {
  if (auto s = ctx.services.blobs.touch(sha); !s) return s;
  return ctx.services.cluster.replicator().note_local_copy(sha);
}

// PUT /internal/v1/blobs/{sha256}: a copy from another node.
awaitable<Reply> receive_blob(RequestContext& ctx) {
  auto parsed = ContentHash::parse(ctx.params[0]);
  if (!parsed) co_return bad_request(ctx, parsed.status().message());
  const ContentHash& sha = *parsed;
  // The bytes are checked against the path's hash as they are written
  // (below), so the signed digest must be that hash and need not be
  // computed twice.
  if (ctx.peer_body_sha256 != sha.hex()) {
    co_return problem(ctx, http::status::bad_request, "digest-mismatch", "Digest mismatch",
                      "the signed body digest is not the blob's name");
  }
  ctx.peer_body_sha256.reset();
  auto length = ctx.parser.content_length();
  if (!length) {
    co_return problem(ctx, http::status::length_required, "length-required", "Length required",
                      "send the blob with a Content-Length");
  }
  if (*length > ctx.config.max_upload_bytes) {
    co_return blob_too_large(ctx);
  }
  if (ctx.services.blobs.exists(sha)) {
    // Already durable here; the body is not needed (the connection closes).
    auto noted = co_await offload(ctx, [&] { return keep_local_copy(ctx, sha); });
    if (!noted) co_return problem_from_status(ctx, noted);
    co_return json_response(ctx, http::status::ok, {{"sha256", sha.hex()}, {"stored", false}});
  }
  // A copy must leave --min-free-space like an upload; the sending node
  // counts a full node as one that cannot hold a copy.
  if (lacks_space_for(ctx, *length)) co_return disk_full_problem(ctx);
  auto writer_or = ctx.services.blobs.begin_write(*length);
  if (!writer_or) co_return problem_from_status(ctx, writer_or.status());
  auto writer = std::move(*writer_or);
  // A sender that goes away mid-body throws: nothing is kept.
  auto status = co_await read_body_chunks(ctx, *length, kTransferChunk,
                                          [&](std::string_view piece) { return writer->write(piece); });
  if (!status) co_return problem_from_status(ctx, status);
  if (writer->digest() != sha.digest()) {
    co_return problem(ctx, http::status::bad_request, "digest-mismatch", "Digest mismatch",
                      "the bytes do not hash to " + sha.hex() + "; nothing was stored");
  }
  auto stored = co_await offload(ctx, [&]() -> Status {
    auto blob = writer->commit();
    if (!blob) return blob.status();
    return ctx.services.cluster.replicator().note_local_copy(sha);
  });
  if (!stored) co_return problem_from_status(ctx, stored);
  spdlog::info("stored a copy of blob {} ({} bytes) from another node", sha.short_hex(), *length);
  co_return json_response(ctx, http::status::created, {{"sha256", sha.hex()}, {"stored", true}});
}

// PUT /internal/v1/uploads/{id}[?size=N]: the bytes of an upload another
// node is receiving, streamed on while they arrive (usually chunked). They
// are hashed and written to a temporary, which is fsynced and kept as a
// staged copy until the sender commits or aborts it. The answer names the
// digest this node computed; the sender compares it with its own. A body
// that ends early (the sender went away or gave up) leaves nothing.
awaitable<Reply> receive_streamed_copy(RequestContext& ctx) {
  const auto& id = ctx.params[0];
  if (!cluster::StagedCopies::valid_id(id)) co_return bad_request(ctx, "an upload id is 32 lowercase hex digits");
  // The sender signs the client's digest when the client named one (the
  // body reader checks it); otherwise the digest is checked at the commit.
  if (ctx.peer_body_sha256 == cluster::kStreamedBodySha256) ctx.peer_body_sha256.reset();
  const auto max = ctx.config.max_upload_bytes;
  std::uint64_t announced = 0;
  if (auto size = ctx.query("size")) {
    auto [end, ec] = std::from_chars(size->data(), size->data() + size->size(), announced);
    if (ec != std::errc() || end != size->data() + size->size()) co_return bad_request(ctx, "size is a number of bytes");
  }
  if (auto len = ctx.parser.content_length()) announced = std::max<std::uint64_t>(announced, *len);
  if (announced > max) {
    co_return blob_too_large(ctx);
  }
  if (lacks_space_for(ctx, announced)) co_return disk_full_problem(ctx);
  auto writer_or = ctx.services.blobs.begin_write(max);
  if (!writer_or) co_return problem_from_status(ctx, writer_or.status());
  auto writer = std::move(*writer_or);
  // A sender that goes away mid-body throws: the writer goes, and its
  // temporary with it. Without a size the free space is checked as the
  // bytes come, as an upload's is.
  bool out_of_room = false;
  auto status = co_await read_body_chunks(ctx, max, kTransferChunk, [&](std::string_view piece) {
    if (lacks_space_for(ctx, piece.size())) {
      out_of_room = true;
      return resource_exhausted("this node's disk is full");
    }
    return writer->write(piece);
  });
  if (out_of_room) co_return disk_full_problem(ctx);
  if (status.code() == Code::kResourceExhausted) {
    co_return blob_too_large(ctx);
  }
  if (!status) co_return problem_from_status(ctx, status);
  const auto sha = ContentHash::from_digest(writer->digest());
  const auto size = writer->size();
  auto staged = co_await offload(ctx, [&]() -> Status {
    if (auto s = writer->sync(); !s) return s;
    return ctx.services.cluster.staged_copies().add(ctx.peer_node, id, std::move(writer));
  });
  if (!staged) co_return problem_from_status(ctx, staged);
  co_return json_response(ctx, http::status::ok, {{"upload", id}, {"sha256", sha.hex()}, {"size", size}});
}

// POST /internal/v1/uploads/{id}/commit {"sha256": hex}: the sender of a
// streamed copy found that its digest matches and publishes the upload.
// The copy moves into the blob store and is recorded: 201. 404 when this
// node holds no such copy (it expired, or this node restarted), 409 when
// the digests differ (the copy is dropped); the sender then sends the
// whole blob again.
awaitable<Reply> commit_streamed_copy(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(sha_text, fields.required_string("sha256"));
  auto parsed = ContentHash::parse(sha_text);
  if (!parsed) co_return bad_request(ctx, parsed.status().message());
  const ContentHash& sha = *parsed;
  const auto& id = ctx.params[0];
  auto writer = ctx.services.cluster.staged_copies().take(ctx.peer_node, id);
  if (!writer) co_return not_found_problem(ctx, "this node holds no copy of upload " + id);
  if (writer->digest() != sha.digest()) {
    co_return problem(ctx, http::status::conflict, "digest-mismatch", "Digest mismatch",
                      "the copy of upload " + id + " here does not hash to " + sha.hex() + "; it was dropped");
  }
  auto stored = co_await offload(ctx, [&]() -> Status {
    auto blob = writer->commit();
    if (!blob) return blob.status();
    return ctx.services.cluster.replicator().note_local_copy(sha);
  });
  if (!stored) co_return problem_from_status(ctx, stored);
  spdlog::info("stored a copy of blob {} ({} bytes), streamed from node {} while it was uploaded", sha.short_hex(),
               writer->size(), ctx.peer_node);
  co_return json_response(ctx, http::status::created, {{"sha256", sha.hex()}, {"stored", true}});
}

// DELETE /internal/v1/uploads/{id}: the upload was not published; the
// copy goes. 200 also when there was none (then a copy that arrives later
// is refused).
awaitable<Reply> abort_streamed_copy(RequestContext& ctx) {
  const bool held = ctx.services.cluster.staged_copies().abort(ctx.peer_node, ctx.params[0]);
  co_return json_response(ctx, http::status::ok, {{"upload", ctx.params[0]}, {"dropped", held}});
}

// POST /internal/v1/blobs/{sha256}/keep: asked before a copy is sent. When
// this node already holds the blob it marks it wanted again (garbage
// collection spares it) and answers 200, and the bytes need not travel; 404
// asks for them.
awaitable<Reply> keep_blob(RequestContext& ctx) {
  auto parsed = ContentHash::parse(ctx.params[0]);
  if (!parsed) co_return bad_request(ctx, parsed.status().message());
  const ContentHash& sha = *parsed;
  auto kept = co_await offload(ctx, [&] { return keep_local_copy(ctx, sha); });
  if (!kept) co_return problem_from_status(ctx, kept);
  co_return json_response(ctx, http::status::ok, {{"sha256", sha.hex()}, {"stored", false}});
}

// GET /internal/v1/blobs/{sha256}: the bytes, for a node proxying a read.
awaitable<Reply> send_blob(RequestContext& ctx) {
  // A name that is not a sha256 is a blob no node has.
  auto sha = ContentHash::parse(ctx.params[0]);
  if (!sha || !ctx.services.blobs.exists(*sha)) {
    co_return not_found_problem(ctx, "this node has no copy");
  }
  co_return co_await serve_blob(ctx, *sha, "application/octet-stream", "");
}

// POST /internal/v1/blobs/{sha256}/push {"target": node-id}: the repair
// leader asks this holder to copy the blob to another node.
awaitable<Reply> push_blob(RequestContext& ctx) {
  HIFI_READ_JSON(body);
  JsonFields fields(body);
  HIFI_FIELD(target, fields.required_string("target"));
  auto parsed = ContentHash::parse(ctx.params[0]);
  if (!parsed) co_return bad_request(ctx, parsed.status().message());
  const ContentHash& sha = *parsed;
  auto pushed = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().push_to(sha, target); });
  if (!pushed) {
    if (pushed.code() == Code::kNotFound) co_return problem_from_status(ctx, pushed);
    co_return problem(ctx, http::status::bad_gateway, "peer-failed", "Copy failed", pushed.message());
  }
  co_return json_response(ctx, http::status::ok, {{"sha256", sha.hex()}, {"target", target}});
}

// POST /internal/v1/blobs/{sha256}/drop: the repair leader found this copy
// above R. This node drops it only while enough other live nodes hold one
// (it checks the index itself): 200, else 409 and the copy stays.
awaitable<Reply> drop_blob(RequestContext& ctx) {
  auto parsed = ContentHash::parse(ctx.params[0]);
  if (!parsed) co_return bad_request(ctx, parsed.status().message());
  const ContentHash& sha = *parsed;
  auto dropped = co_await offload(ctx, [&] { return ctx.services.cluster.replicator().drop_local_copy(sha); });
  if (!dropped) co_return problem_from_status(ctx, dropped);
  co_return json_response(ctx, http::status::ok, {{"sha256", sha.hex()}, {"dropped", true}});
}

}  // namespace

std::vector<Route> cluster_routes() {
  using V = http::verb;
  return {
      {V::get, "/api/v1/cluster", Auth::kBearer, cluster_info},
      {V::post, "/api/v1/cluster/members/{}/drain", Auth::kBearer, drain_member},
      {V::put, "/internal/v1/blobs/{}", Auth::kPeer, receive_blob},
      {V::get, "/internal/v1/blobs/{}", Auth::kPeer, send_blob},
      {V::post, "/internal/v1/blobs/{}/push", Auth::kPeer, push_blob},
      {V::post, "/internal/v1/blobs/{}/keep", Auth::kPeer, keep_blob},
      {V::post, "/internal/v1/blobs/{}/drop", Auth::kPeer, drop_blob},
      {V::put, "/internal/v1/uploads/{}", Auth::kPeer, receive_streamed_copy},
      {V::post, "/internal/v1/uploads/{}/commit", Auth::kPeer, commit_streamed_copy},
      {V::delete_, "/internal/v1/uploads/{}", Auth::kPeer, abort_streamed_copy},
  };
}

}  // namespace hifi::http_internal
