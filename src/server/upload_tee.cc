#include "server/upload_tee.h"

#include <spdlog/spdlog.h>

#include "cluster/cluster_node.h"
#include "common/endpoint.h"
#include "common/random.h"
#include "common/tcp_connect.h"
#include "net/tls.h"

namespace hifi::http_internal {

using asio::as_tuple;
using asio::use_awaitable;

struct UploadTee::Target {
  cluster::Member member;
  std::optional<net::Stream> stream;
  beast::flat_buffer buffer;  // what the node sent beyond the answer read
  bool open = false;
};

namespace {

std::string describe(const cluster::Member& m) { return "node " + m.id + " (" + m.advertise + ")"; }

}  // namespace

awaitable<std::shared_ptr<UploadTee>> UploadTee::open(RequestContext& ctx, std::vector<cluster::Member> targets,
                                                      const std::optional<ContentHash>& expected,
                                                      std::optional<std::uint64_t> size) {
  std::shared_ptr<UploadTee> tee(new UploadTee());
  tee->upload_id_ = random_hex(16);
  const auto& cluster = ctx.services.cluster;
  const auto& peer_options = cluster.options().peer;
  tee->stall_limit_ = peer_options.answer_timeout;
  tee->idle_limit_ = peer_options.idle_timeout;
  std::string api_path = "/internal/v1/uploads/" + tee->upload_id_;
  if (size) api_path += "?size=" + std::to_string(*size);
  const std::string body_sha = expected ? expected->hex() : cluster::kStreamedBodySha256;
  const auto executor = ctx.stream.get_executor();
  for (auto& member : targets) {
    auto t = std::make_unique<Target>();
    t->member = std::move(member);
    auto endpoint = Endpoint::parse(t->member.advertise);
    if (!endpoint) {
      spdlog::warn("upload {}: {} has no usable URL; its copy is sent after the commit", tee->upload_id_,
                   describe(t->member));
      continue;
    }
    t->stream.emplace(net::client_stream(executor, *endpoint));
    auto& stream = *t->stream;
    auto [connect_error] = co_await async_connect_endpoint(stream.tcp(), *endpoint, peer_options.connect_timeout,
                                                           as_tuple(use_awaitable));
    boost::system::error_code ec = connect_error;
    if (!ec) {
      stream.socket().set_option(tcp::no_delay(true), ec);
      stream.expires_after(peer_options.connect_timeout);
      auto [handshake_error] = co_await stream.async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
      ec = handshake_error;
    }
    if (!ec) {
      http::request<http::empty_body> request{http::verb::put, endpoint->target(api_path), 11};
      request.set(http::field::host, endpoint->host_header());
      request.set(http::field::content_type, "application/octet-stream");
      request.set(http::field::transfer_encoding, "chunked");
      // The node answers 100 once it accepted the request (signature,
      // size, room): a frozen or refusing node is known before any bytes.
      request.set(http::field::expect, "100-continue");
      request.set(cluster::kPeerHeader,
                  cluster.auth().header_value({"PUT", api_path, t->member.id, body_sha}, cluster.clock().now_ms() / 1000));
      http::request_serializer<http::empty_body> serializer(request);
      stream.expires_after(tee->stall_limit_);
      auto [write_error, n] = co_await http::async_write_header(stream, serializer, as_tuple(use_awaitable));
      ec = write_error;
    }
    std::string refusal;
    if (!ec) {
      http::response_parser<http::string_body> answer;
      answer.body_limit(64 * 1024);
      stream.expires_after(tee->stall_limit_);
      auto [read_error, n] = co_await http::async_read_header(stream, t->buffer, answer, as_tuple(use_awaitable));
      ec = read_error;
      if (!ec && answer.get().result() != http::status::continue_) {
        if (!answer.is_done()) {
          auto [body_error, m] = co_await http::async_read(stream, t->buffer, answer, as_tuple(use_awaitable));
          if (body_error) answer.get().body().clear();
        }
        refusal = cluster::describe_refusal(answer.get().result_int(), answer.get().body());
      }
    }
    if (ec || !refusal.empty()) {
      spdlog::warn("upload {}: cannot stream to {} ({}); its copy is sent after the commit", tee->upload_id_,
                   describe(t->member), ec ? net::describe_error(ec) : refusal);
      continue;
    }
    t->open = true;
    tee->targets_.push_back(std::move(t));
  }
  co_return tee;
}

UploadTee::~UploadTee() = default;

std::size_t UploadTee::open_streams() const {
  std::size_t n = 0;
  for (const auto& t : targets_) n += t->open ? 1 : 0;
  return n;
}

std::chrono::milliseconds UploadTee::answer_limit() const {
  // The peers' answer timeout, plus a second for every 64 MiB to fsync, up
  // to their idle timeout.
  const auto per_64_mib = std::chrono::milliseconds(1000) * static_cast<std::int64_t>(sent_ >> 26);
  return std::min(stall_limit_ + per_64_mib, std::max(stall_limit_, idle_limit_));
}

std::chrono::milliseconds UploadTee::finish_limit() const {
  return static_cast<std::int64_t>(open_streams()) * (stall_limit_ + answer_limit()) + std::chrono::seconds(1);
}

void UploadTee::drop(Target& target, const std::string& why) {
  spdlog::warn("upload {}: stopped streaming to {}: {}; its copy is sent after the commit", upload_id_,
               describe(target.member), why);
  target.open = false;
  target.stream.reset();  // closes the connection mid-body: that node keeps nothing
}

awaitable<void> UploadTee::send(const std::vector<asio::const_buffer>& pieces) {
  const auto bytes = asio::buffer_size(pieces);
  if (bytes == 0) co_return;
  sent_ += bytes;
  for (auto& t : targets_) {
    if (!t->open) continue;
    t->stream->expires_after(stall_limit_);
    auto [ec, n] = co_await asio::async_write(*t->stream, http::make_chunk(pieces), as_tuple(use_awaitable));
    if (ec) drop(*t, ec == beast::error::timeout ? "it took no bytes for " + std::to_string(stall_limit_.count()) + " ms"
                                                 : net::describe_error(ec));
  }
}

awaitable<std::vector<StagedCopy>> UploadTee::finish() {
  for (auto& t : targets_) {
    if (!t->open) continue;
    t->stream->expires_after(stall_limit_);
    auto [ec, n] = co_await asio::async_write(*t->stream, http::make_chunk_last(), as_tuple(use_awaitable));
    if (ec) drop(*t, net::describe_error(ec));
  }
  // Each target answers once its copy is fsynced; they work at once, so
  // after the first answer the others are usually there. A target that
  // does not answer in time falls back to a whole push, which waits longer
  // for a node that is slow but alive.
  std::vector<StagedCopy> staged;
  const auto answer_limit = this->answer_limit();
  for (auto& t : targets_) {
    if (!t->open) continue;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    t->stream->expires_after(answer_limit);
    auto [ec, n] = co_await http::async_read(*t->stream, t->buffer, parser, as_tuple(use_awaitable));
    // Past this point the target got every byte: whatever went wrong, it
    // may still stage the copy (a frozen node resuming), so it is named to
    // be aborted.
    const StagedCopy unanswered{t->member.id, upload_id_, ContentHash{}, 0, /*answered=*/false};
    if (ec) {
      drop(*t, "no answer within " + std::to_string(answer_limit.count()) + " ms: " + net::describe_error(ec));
      staged.push_back(unanswered);
      continue;
    }
    const auto& res = parser.get();
    boost::system::error_code parse_error;
    auto doc = boost::json::parse(res.body(), parse_error);
    const auto* object = parse_error ? nullptr : doc.if_object();
    const auto* sha_text = object ? object->if_contains("sha256") : nullptr;
    const auto* size = object ? object->if_contains("size") : nullptr;
    std::optional<ContentHash> sha;
    if (sha_text && sha_text->is_string()) {
      if (auto parsed = ContentHash::parse(std::string(sha_text->as_string())); parsed) sha = *parsed;
    }
    if (res.result() != http::status::ok || !sha || !size || !size->is_int64()) {
      drop(*t, cluster::describe_refusal(res.result_int(), res.body()));
      staged.push_back(unanswered);
      continue;
    }
    staged.push_back(StagedCopy{t->member.id, upload_id_, *sha, static_cast<std::uint64_t>(size->as_int64())});
    beast::error_code ignored;
    t->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    t->open = false;
  }
  co_return staged;
}

}  // namespace hifi::http_internal
