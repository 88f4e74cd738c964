#include "server/storage_limits.h"

#include <sys/statvfs.h>

#include <spdlog/spdlog.h>

namespace hifi::http_internal {
namespace {

std::string mib(std::uint64_t bytes) {
  return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

}  // namespace

StorageUse storage_use(const RequestContext& ctx, const User& user) {
  StorageUse use;
  const auto totals = ctx.services.catalog.upload_totals();
  if (auto it = totals.find(user.id); it != totals.end()) {
    use.used_bytes = static_cast<std::uint64_t>(it->second.bytes);
    use.songs = it->second.songs;
  }
  use.quota_bytes = user.quota_bytes.value_or(ctx.config.default_quota_bytes);
  return use;
}

void add_storage_fields(boost::json::object& o, const StorageUse& use) {
  o["storage_bytes"] = use.used_bytes;
  o["song_count"] = use.songs;
  o["storage_quota_bytes"] = use.quota_bytes;
}

std::optional<std::uint64_t> free_bytes(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

UploadBudget::UploadBudget(const RequestContext& ctx) : ctx_(ctx), use_(storage_use(ctx, *ctx.user)) {}

StringResponse UploadBudget::over_quota(std::uint64_t song_bytes) const {
  const auto left = use_.used_bytes >= use_.quota_bytes ? 0 : use_.quota_bytes - use_.used_bytes;
  return problem(ctx_, http::status::payload_too_large, "quota-exceeded", "Storage quota exceeded",
                 "your songs take " + std::to_string(use_.used_bytes) + " of your " +
                     std::to_string(use_.quota_bytes) + " bytes; this song needs " + std::to_string(song_bytes) +
                     " and " + std::to_string(left) + " are left. Delete songs or ask an admin for more",
                 {{"storage_bytes", use_.used_bytes}, {"storage_quota_bytes", use_.quota_bytes}});
}

StringResponse disk_full_problem(const RequestContext& ctx) {
  spdlog::warn("{} refused: the disk of {} is (nearly) full; --min-free-space is {}",
               ctx.user ? "upload" : "copy from another node", ctx.config.data_dir, mib(ctx.config.min_free_bytes));
  return problem(ctx, http::status::insufficient_storage, "insufficient-storage", "Insufficient storage",
                 "the server's disk has no room for this song; nothing was stored. Try again later or tell "
                 "the server's admin");
}

bool lacks_space_for(const RequestContext& ctx, std::uint64_t bytes) {
  auto free = free_bytes(ctx.config.data_dir);
  return free && *free < ctx.config.min_free_bytes + bytes;
}

std::optional<StringResponse> UploadBudget::refuse_before(std::optional<std::uint64_t> song_bytes) {
  if (!song_bytes) return std::nullopt;
  if (use_.quota_bytes > 0 && use_.used_bytes + *song_bytes > use_.quota_bytes) {
    refusal_ = over_quota(*song_bytes);
  } else if (lacks_space_for(ctx_, *song_bytes)) {
    refusal_ = disk_full_problem(ctx_);
  }
  return refusal_;
}

Status UploadBudget::check(std::uint64_t so_far) {
  if (use_.quota_bytes > 0 && use_.used_bytes + so_far > use_.quota_bytes) {
    refusal_ = over_quota(so_far);
  } else if (lacks_space_for(ctx_, 0)) {
    refusal_ = disk_full_problem(ctx_);
  } else {
    return Status::ok();
  }
  return resource_exhausted("upload over its budget");
}

std::optional<StringResponse> UploadBudget::refuse_failed(const Status& status) {
  if (status.code() != Code::kIoError) return std::nullopt;
  // A write that fails while the reserve is all that is left failed for
  // want of space (ENOSPC), not for a broken disk.
  if (!lacks_space_for(ctx_, 0)) return std::nullopt;
  refusal_ = disk_full_problem(ctx_);
  return refusal_;
}

std::optional<StringResponse> UploadBudget::refuse_after(std::uint64_t song_bytes) {
  if (use_.quota_bytes == 0) return std::nullopt;
  use_ = storage_use(ctx_, *ctx_.user);
  if (use_.used_bytes + song_bytes > use_.quota_bytes) refusal_ = over_quota(song_bytes);
  return refusal_;
}

}  // namespace hifi::http_internal
