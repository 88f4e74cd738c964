// BlobStore: immutable, content-addressed files on local disk.
//
// Layout under the root directory:
//   blobs/ab/cd/<sha256-hex>   committed blobs (read-only once renamed in)
//   tmp/<random>.part          writes in progress; removed on abort and by
//                              cleanup_temporaries() at start-up
//   quarantine/<sha256>.<ms>   copies that failed a scrub, kept for inspection
//
// Durability: BlobWriter::commit() fsyncs the file, renames it into place and
// fsyncs the destination directory before returning OK; after that the blob
// survives kill -9 and power loss. Before commit() nothing is visible under
// blobs/, so a crash never leaves a half-written blob under its final name.
//
// Thread-safety: BlobStore methods are thread-safe. A BlobWriter is used by
// one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "common/content_hash.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hifi {

struct BlobInfo {
  ContentHash sha256;
  std::uint64_t size = 0;
};

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;  // aborts (removes the temporary) unless committed
  // Appends bytes; kResourceExhausted past the writer's max_size, kIoError on
  // disk failure. Either error aborts the writer (the temporary is removed at
  // once); kFailedPrecondition after digest(), commit() or abort().
  virtual Status write(std::string_view bytes) = 0;
  virtual std::uint64_t size() const = 0;
  // Path of the temporary file holding the bytes so far (for probing before
  // commit); valid until commit() or abort().
  virtual const std::string& temp_path() const = 0;
  // The digest of all bytes written. May be called any number of times; the
  // first call finishes the hash, so write() fails afterwards. commit()
  // reuses it. Callers that must match an expected digest (e.g. an upload's
  // Repr-Digest) compare this before commit() and abort() on a mismatch.
  virtual Digest digest() = 0;
  // Makes the bytes written so far durable in the temporary, so that a
  // later commit() has almost nothing left to flush (a node holding a copy
  // staged for another node's upload syncs it while that node decides).
  // kIoError on disk failure, kFailedPrecondition after commit() or abort().
  virtual Status sync() = 0;
  // Makes the blob durable under blobs/. Committing bytes that already exist
  // is OK and keeps the existing copy, whose modification time is set to now
  // (garbage collection spares recently committed blobs). On failure the
  // temporary is removed.
  virtual Result<BlobInfo> commit() = 0;
  virtual void abort() = 0;
};

// A committed blob opened for reading. The descriptor stays open while any
// copy of the shared_ptr that holds it lives, even after the blob is removed.
class OpenBlobFile {
 public:
  explicit OpenBlobFile(int fd) : fd_(fd) {}
  ~OpenBlobFile();
  OpenBlobFile(const OpenBlobFile&) = delete;
  OpenBlobFile& operator=(const OpenBlobFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct OpenedBlob {
  std::shared_ptr<const OpenBlobFile> file;
  std::uint64_t size = 0;
};

class BlobStore {
 public:
  // Creates the directory layout if missing. Throws std::runtime_error only
  // when the root cannot be created (a start-up failure). A relative root is
  // made absolute, so root() and path_for() are absolute paths.
  // `open_files`: how many descriptors open() keeps for reuse (0: none).
  explicit BlobStore(std::string root, std::size_t open_files = kDefaultOpenFiles);
  ~BlobStore();

  static constexpr std::size_t kDefaultOpenFiles = 16;

  const std::string& root() const { return root_; }

  // A new writer whose total size may not exceed max_size bytes.
  Result<std::unique_ptr<BlobWriter>> begin_write(std::uint64_t max_size);

  // Blobs are named by ContentHash, whose hex form is always 64 lowercase
  // hex digits, so no caller can name a file outside blobs/.
  bool exists(const ContentHash& sha256) const;
  // Absolute path of a committed blob (whether or not it exists).
  std::string path_for(const ContentHash& sha256) const;
  // kNotFound if absent.
  Result<std::uint64_t> size_of(const ContentHash& sha256) const;
  // Stores small bytes in one call (cover art).
  Result<BlobInfo> put(std::string_view bytes);
  // Opens a committed blob for reading: kNotFound if absent (or not a
  // regular file). The descriptors of the blobs opened last are kept (a
  // bounded LRU) and reused: a kept descriptor is checked with fstat(2),
  // and one whose file was unlinked, by remove() or by anyone else, is
  // dropped and the path opened again. remove() and quarantine() drop the
  // blob's descriptor, so a blob re-uploaded after a removal is read from
  // its new file.
  Result<OpenedBlob> open(const ContentHash& sha256);
  // How many descriptors open() keeps now (at most `open_files`); a node
  // reports it, so that its open descriptors can be told from leaked ones.
  std::size_t kept_descriptors() const;
  // kNotFound if absent.
  Status remove(const ContentHash& sha256);
  // Moves a committed blob to quarantine/ (a scrub found it corrupt), so it
  // is no longer served but can still be inspected.
  Status quarantine(const ContentHash& sha256);
  // Every committed blob, in no particular order. Files whose names are not
  // a sha256 are skipped.
  std::vector<ContentHash> list() const;
  // Sets a committed blob's modification time to now: it is wanted again
  // (garbage collection spares recent blobs). kNotFound if absent.
  Status touch(const ContentHash& sha256);
  // Last modification time of a committed blob, in Unix milliseconds.
  Result<std::int64_t> modified_ms(const ContentHash& sha256) const;
  // Removes every leftover temporary file; returns how many were removed.
  // Call at start-up only: it also removes the files of writers in progress.
  std::size_t cleanup_temporaries();

 private:
  struct OpenFiles;

  Result<struct stat> stat_blob(const ContentHash& sha256) const;
  // Drops a kept descriptor of the blob (called after its file went away).
  void forget_open(const ContentHash& sha256);

  std::string root_;
  std::unique_ptr<OpenFiles> open_files_;
};

}  // namespace hifi
