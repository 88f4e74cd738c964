#include "blob/transcode_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/random.h"
#include "common/sha256.h"

namespace hifi {
namespace fs = std::filesystem;

namespace {

bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

class TranscodeCache::FileWriter final : public TranscodeCache::Writer {
 public:
  FileWriter(TranscodeCache& cache, std::string key, std::string temp, int fd)
      : cache_(cache), key_(std::move(key)), temp_(std::move(temp)), fd_(fd) {}
  ~FileWriter() override { abort(); }

  Status write(std::string_view bytes) override {
    if (fd_ < 0) return Status(Code::kFailedPrecondition, "the cache entry was already finished");
    hash_.update(bytes);
    size_ += bytes.size();
    while (!bytes.empty()) {
      auto n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Status s = io_error("writing the transcode cache: " + std::string(std::strerror(errno)));
        abort();
        return s;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return Status::ok();
  }

  Result<Entry> commit() override {
    if (fd_ < 0) return Status(Code::kFailedPrecondition, "the cache entry was already finished");
    const auto digest = ContentHash::from_digest(hash_.finish());
    ::close(fd_);
    fd_ = -1;
    Entry entry{(fs::path(cache_.dir_) / (key_ + "." + digest.hex())).string(), size_, digest};
    if (::rename(temp_.c_str(), entry.path.c_str()) != 0) {
      Status s = io_error("adding to the transcode cache: " + std::string(std::strerror(errno)));
      ::unlink(temp_.c_str());
      return s;
    }
    cache_.insert(key_, entry);
    return entry;
  }

 private:
  void abort() {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    ::unlink(temp_.c_str());
  }

  TranscodeCache& cache_;
  const std::string key_;
  const std::string temp_;
  int fd_;
  Sha256 hash_;
  std::uint64_t size_ = 0;
};

TranscodeCache::TranscodeCache(std::string dir, std::uint64_t capacity_bytes)
    : dir_(std::move(dir)), capacity_(capacity_bytes) {}

Status TranscodeCache::open() {
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / "tmp", ec);
  if (ec) return io_error("cannot create the transcode cache " + dir_ + ": " + ec.message());
  for (const auto& f : fs::directory_iterator(fs::path(dir_) / "tmp", ec)) fs::remove(f.path(), ec);
  // Entries, oldest first, so that inserting them in turn leaves the newest
  // most recently used.
  std::vector<std::tuple<fs::file_time_type, std::string, Entry>> found;
  for (const auto& f : fs::directory_iterator(dir_, ec)) {
    if (!f.is_regular_file(ec)) continue;
    const auto name = f.path().filename().string();
    const auto dot = name.rfind('.');
    auto digest = ContentHash::parse(dot == std::string::npos ? "" : std::string_view(name).substr(dot + 1));
    const auto key = name.substr(0, dot == std::string::npos ? 0 : dot);
    if (!digest || !valid_key(key)) {
      fs::remove(f.path(), ec);  // not ours, or a leftover of another layout
      continue;
    }
    found.emplace_back(f.last_write_time(ec), key, Entry{f.path().string(), f.file_size(ec), *digest});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  for (auto& [time, key, entry] : found) insert(key, std::move(entry));
  spdlog::info("transcode cache {}: {} entries, {} of {} MiB", dir_, entries(), size_bytes() >> 20, capacity_ >> 20);
  return Status::ok();
}

std::optional<TranscodeCache::Entry> TranscodeCache::find(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.use);
  return it->second.entry;
}

Result<std::unique_ptr<TranscodeCache::Writer>> TranscodeCache::begin(const std::string& key) {
  if (!valid_key(key)) return invalid_argument("malformed transcode cache key");
  const auto temp = (fs::path(dir_) / "tmp" / (random_hex(8) + ".part")).string();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot write to the transcode cache: " + std::string(std::strerror(errno)));
  return std::unique_ptr<Writer>(std::make_unique<FileWriter>(*this, key, temp, fd));
}

std::uint64_t TranscodeCache::size_bytes() const {
  std::lock_guard lock(mu_);
  return total_;
}

std::size_t TranscodeCache::entries() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

void TranscodeCache::insert(const std::string& key, Entry entry) {
  std::lock_guard lock(mu_);
  if (auto it = items_.find(key); it != items_.end()) {
    if (it->second.entry.path != entry.path) ::unlink(it->second.entry.path.c_str());
    drop_locked(key);
  }
  lru_.push_front(key);
  total_ += entry.size;
  items_.emplace(key, Item{std::move(entry), lru_.begin()});
  evict_locked();
}

void TranscodeCache::evict_locked() {
  while (total_ > capacity_ && !lru_.empty()) {
    const std::string key = lru_.back();
    const auto path = items_.at(key).entry.path;
    drop_locked(key);
    ::unlink(path.c_str());
    spdlog::debug("transcode cache: evicted {}", key);
  }
}

void TranscodeCache::drop_locked(const std::string& key) {
  auto it = items_.find(key);
  if (it == items_.end()) return;
  total_ -= it->second.entry.size;
  lru_.erase(it->second.use);
  items_.erase(it);
}

}  // namespace hifi
