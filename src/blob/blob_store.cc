#include "blob/blob_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <list>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <system_error>
#include <utility>

#include "common/random.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;

std::string errno_text(int err) { return std::generic_category().message(err); }

Status errno_status(const std::string& what, const std::string& path, int err) {
  return io_error(what + " " + path + ": " + errno_text(err));
}

// fsync on a directory makes the entries created or renamed in it durable.
Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", dir, errno);
  Status status;
  if (::fsync(fd) != 0) status = errno_status("fsync", dir, errno);
  ::close(fd);
  return status;
}

// mkdir that tolerates an existing directory, then fsyncs the parent so the
// entry survives a crash. The fsync is done even when the directory existed:
// a concurrent writer may have created it without having synced it yet, and
// on an already clean directory it costs little.
Status make_dir(const std::string& parent, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return errno_status("mkdir", dir, errno);
  }
  return fsync_dir(parent);
}

std::string shard_dir(const std::string& root, const ContentHash& sha256) {
  std::string dir = root + "/blobs/";
  dir.append(sha256.hex(), 0, 2);
  dir += '/';
  dir.append(sha256.hex(), 2, 2);
  return dir;
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(std::string root, std::string temp_path, int fd, std::uint64_t max_size)
      : root_(std::move(root)), temp_path_(std::move(temp_path)), fd_(fd), max_size_(max_size) {}

  ~FileBlobWriter() override { abort(); }

  Status write(std::string_view bytes) override {
    if (state_ != State::kOpen) return failed_precondition("blob writer is closed");
    if (digest_) return failed_precondition("blob writer: write() after digest()");
    if (bytes.size() > max_size_ - size_) {
      // The upload can never succeed; free the disk space right away.
      abort();
      return resource_exhausted("the file is larger than the limit of " + std::to_string(max_size_) +
                                " bytes");
    }
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        Status status = errno_status("write", temp_path_, errno);
        abort();
        return status;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    hash_.update(bytes);
    size_ += bytes.size();
    return Status::ok();
  }

  std::uint64_t size() const override { return size_; }
  const std::string& temp_path() const override { return temp_path_; }

  Digest digest() override {
    if (!digest_) digest_ = hash_.finish();
    return *digest_;
  }

  Status sync() override {
    if (state_ != State::kOpen) return failed_precondition("blob writer is closed");
    if (::fsync(fd_) != 0) return errno_status("fsync", temp_path_, errno);
    return Status::ok();
  }

  Result<BlobInfo> commit() override {
    if (state_ != State::kOpen) return failed_precondition("blob writer is closed");
    BlobInfo info{ContentHash::from_digest(digest()), size_};
    Status status = finish_file();
    if (status) status = install(info.sha256);
    if (!status) {
      abort();
      return status;
    }
    state_ = State::kCommitted;
    return info;
  }

  void abort() override {
    if (state_ != State::kOpen) return;
    state_ = State::kAborted;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(temp_path_.c_str());
  }

 private:
  enum class State { kOpen, kCommitted, kAborted };

  Status finish_file() {
    if (::fsync(fd_) != 0) return errno_status("fsync", temp_path_, errno);
    // close() can report a deferred write error (e.g. on NFS); never ignore it.
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return errno_status("close", temp_path_, errno);
    return Status::ok();
  }

  // Moves the finished temporary to blobs/ab/cd/<sha256>.
  Status install(const ContentHash& sha256) {
    const std::string blobs = root_ + "/blobs";
    const std::string level1 = blobs + "/" + sha256.hex().substr(0, 2);
    const std::string level2 = shard_dir(root_, sha256);
    if (Status s = make_dir(blobs, level1); !s) return s;
    if (Status s = make_dir(level1, level2); !s) return s;
    const std::string final_path = level2 + "/" + sha256.hex();
    // RENAME_NOREPLACE keeps an existing copy untouched (it may be being
    // served or scrubbed); identical content makes the duplicate redundant.
    const char* from = temp_path_.c_str();
    const char* to = final_path.c_str();
    int rc = ::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
    if (rc != 0 && errno == EEXIST) {
      ::unlink(from);
      // Mark the kept copy as freshly committed: garbage collection spares
      // recent blobs, and this one is about to be referenced again.
      ::utimensat(AT_FDCWD, to, nullptr, 0);
      // The other committer may not have synced the directory yet.
      return fsync_dir(level2);
    }
    // Filesystems without RENAME_NOREPLACE: replacing a blob with the same
    // bytes is harmless.
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) rc = ::rename(from, to);
    if (rc != 0) return errno_status("rename", final_path, errno);
    return fsync_dir(level2);
  }

  const std::string root_;
  const std::string temp_path_;
  int fd_;
  const std::uint64_t max_size_;
  std::uint64_t size_ = 0;
  Sha256 hash_;
  std::optional<Digest> digest_;
  State state_ = State::kOpen;
};

}  // namespace

OpenBlobFile::~OpenBlobFile() {
  if (fd_ >= 0) ::close(fd_);
}

// The kept descriptors: most recently opened first.
struct BlobStore::OpenFiles {
  using Entry = std::pair<ContentHash, std::shared_ptr<const OpenBlobFile>>;

  explicit OpenFiles(std::size_t capacity) : capacity(capacity) {}

  const std::size_t capacity;
  std::mutex mu;
  std::list<Entry> lru;
  std::unordered_map<ContentHash, std::list<Entry>::iterator> index;
  // Bumped whenever a blob's file goes away: an open() that began before
  // does not keep the descriptor it got (it may name the old file).
  std::uint64_t generation = 0;
};

BlobStore::~BlobStore() = default;

BlobStore::BlobStore(std::string root, std::size_t open_files)
    : open_files_(std::make_unique<OpenFiles>(open_files)) {
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(root), ec);
  if (ec) throw std::runtime_error("blob store root " + root + ": " + ec.message());
  root_ = abs.lexically_normal().string();
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  for (const char* sub : {"blobs", "tmp", "quarantine"}) {
    fs::create_directories(fs::path(root_) / sub, ec);
    if (ec) throw std::runtime_error("cannot create " + root_ + "/" + sub + ": " + ec.message());
  }
}

Result<std::unique_ptr<BlobWriter>> BlobStore::begin_write(std::uint64_t max_size) {
  // 128 random bits: collisions are practically impossible, and O_EXCL turns
  // one into an error rather than two writers sharing a file.
  std::string path = root_ + "/tmp/" + random_hex(16) + ".part";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("create", path, errno);
  return std::unique_ptr<BlobWriter>(
      std::make_unique<FileBlobWriter>(root_, std::move(path), fd, max_size));
}

bool BlobStore::exists(const ContentHash& sha256) const {
  struct stat st;
  return ::stat(path_for(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string BlobStore::path_for(const ContentHash& sha256) const {
  std::string path = shard_dir(root_, sha256);
  path += '/';
  path.append(sha256.hex());
  return path;
}

Result<struct stat> BlobStore::stat_blob(const ContentHash& sha256) const {
  const std::string path = path_for(sha256);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256.hex());
    return errno_status("stat", path, errno);
  }
  return st;
}

Result<std::uint64_t> BlobStore::size_of(const ContentHash& sha256) const {
  auto st = stat_blob(sha256);
  if (!st) return st.status();
  return static_cast<std::uint64_t>(st->st_size);
}

Result<BlobInfo> BlobStore::put(std::string_view bytes) {
  auto writer = begin_write(bytes.size());
  if (!writer) return writer.status();
  if (Status s = (*writer)->write(bytes); !s) return s;
  return (*writer)->commit();
}

Result<OpenedBlob> BlobStore::open(const ContentHash& sha256) {
  auto& cache = *open_files_;
  std::uint64_t generation = 0;
  std::shared_ptr<const OpenBlobFile> kept;
  {
    std::lock_guard lock(cache.mu);
    if (auto it = cache.index.find(sha256); it != cache.index.end()) {
      cache.lru.splice(cache.lru.begin(), cache.lru, it->second);
      kept = it->second->second;
    }
    generation = cache.generation;
  }
  struct stat st;
  if (kept) {
    // Still linked: the same file the path names (blobs are never
    // rewritten; remove() and quarantine() drop their descriptors).
    if (::fstat(kept->fd(), &st) == 0 && st.st_nlink > 0) {
      return OpenedBlob{std::move(kept), static_cast<std::uint64_t>(st.st_size)};
    }
    std::lock_guard lock(cache.mu);
    if (auto it = cache.index.find(sha256); it != cache.index.end() && it->second->second == kept) {
      cache.lru.erase(it->second);
      cache.index.erase(it);
    }
    generation = cache.generation;
  }
  const std::string path = path_for(sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256.hex());
    return errno_status("open", path, errno);
  }
  auto file = std::make_shared<const OpenBlobFile>(fd);
  if (::fstat(fd, &st) != 0) return errno_status("fstat", path, errno);
  if (!S_ISREG(st.st_mode)) return not_found("no blob " + sha256.hex());
  if (cache.capacity > 0) {
    std::shared_ptr<const OpenBlobFile> evicted;  // closed outside the lock
    std::lock_guard lock(cache.mu);
    if (cache.generation == generation && !cache.index.contains(sha256)) {
      cache.lru.emplace_front(sha256, file);
      cache.index.emplace(sha256, cache.lru.begin());
      if (cache.lru.size() > cache.capacity) {
        evicted = std::move(cache.lru.back().second);
        cache.index.erase(cache.lru.back().first);
        cache.lru.pop_back();
      }
    }
  }
  return OpenedBlob{std::move(file), static_cast<std::uint64_t>(st.st_size)};
}

std::size_t BlobStore::kept_descriptors() const {
  auto& cache = *open_files_;
  std::lock_guard lock(cache.mu);
  return cache.lru.size();
}

void BlobStore::forget_open(const ContentHash& sha256) {
  auto& cache = *open_files_;
  std::shared_ptr<const OpenBlobFile> dropped;  // closed outside the lock
  std::lock_guard lock(cache.mu);
  ++cache.generation;
  if (auto it = cache.index.find(sha256); it != cache.index.end()) {
    dropped = std::move(it->second->second);
    cache.lru.erase(it->second);
    cache.index.erase(it);
  }
}

Status BlobStore::remove(const ContentHash& sha256) {
  const std::string path = path_for(sha256);
  // Not fsynced: a removal lost in a crash only brings back an unreferenced
  // blob, which the next garbage collection removes again, or an
  // unrecorded copy above R, which the index pass records and repair trims
  // again.
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256.hex());
    return errno_status("unlink", path, errno);
  }
  forget_open(sha256);
  return Status::ok();
}

Status BlobStore::quarantine(const ContentHash& sha256) {
  const std::string from = path_for(sha256);
  const std::string to = root_ + "/quarantine/" + sha256.hex() + "." +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  if (::rename(from.c_str(), to.c_str()) != 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256.hex());
    return errno_status("rename", from, errno);
  }
  forget_open(sha256);  // renamed, not unlinked: fstat would not notice
  return fsync_dir(root_ + "/quarantine");
}

std::vector<ContentHash> BlobStore::list() const {
  std::vector<ContentHash> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(fs::path(root_) / "blobs", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it.depth() != 2) continue;
    // The directory listing is outside text: only names that parse are blobs.
    if (auto sha = ContentHash::parse(it->path().filename().string())) out.push_back(std::move(*sha));
  }
  return out;
}

Status BlobStore::touch(const ContentHash& sha256) {
  const std::string path = path_for(sha256);
  if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) != 0) {
    if (errno == ENOENT) return not_found("no blob " + sha256.hex());
    return errno_status("touch", path, errno);
  }
  return Status::ok();
}

Result<std::int64_t> BlobStore::modified_ms(const ContentHash& sha256) const {
  auto st = stat_blob(sha256);
  if (!st) return st.status();
  return static_cast<std::int64_t>(st->st_mtim.tv_sec) * 1000 + st->st_mtim.tv_nsec / 1'000'000;
}

std::size_t BlobStore::cleanup_temporaries() {
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(root_) / "tmp", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code rm_ec;
    if (fs::remove_all(it->path(), rm_ec) > 0 && !rm_ec) ++removed;
  }
  return removed;
}

}  // namespace hifi
