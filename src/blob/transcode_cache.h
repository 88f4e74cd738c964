// TranscodeCache: finished transcodes on local disk, kept up to a size limit
// and evicted least recently used first, so that a song asked for again in
// the same format is served like an original (Content-Length, Range, ETag).
//
// Layout under the cache directory:
//   <key>.<sha256-of-the-bytes>   a finished transcode
//   tmp/<random>.part             transcodes being written; removed on abort
//                                 and by open() at start-up
// A key names the source and the encoding ("<source-sha256>-opus-96"); it
// may hold only letters, digits, '-' and '_'.
//
// Durability: none is needed. Entries are derived data; a crash loses at
// most the entries being written, which never appear under a final name
// before they are complete. Entries are not fsynced.
//
// Eviction: after an entry is added, the least recently used entries go
// until the total fits the capacity (an entry larger than the capacity is
// not kept at all). Use is tracked in memory, starting from the files'
// modification times at open(). A file being served when it is evicted stays
// readable through its open descriptor.
//
// Thread-safety: TranscodeCache methods are thread-safe; a Writer is used by
// one thread at a time.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/content_hash.h"
#include "common/status.h"

namespace hifi {

class TranscodeCache {
 public:
  struct Entry {
    std::string path;
    std::uint64_t size = 0;
    ContentHash digest;  // SHA-256 of the entry's bytes
  };

  class Writer {
   public:
    virtual ~Writer() = default;  // aborts (removes the temporary) unless committed
    // Appends bytes; kIoError on disk failure (the writer is then aborted).
    virtual Status write(std::string_view bytes) = 0;
    // Moves the bytes in under the writer's key (replacing an entry written
    // meanwhile by someone else) and evicts what no longer fits.
    virtual Result<Entry> commit() = 0;
  };

  // capacity_bytes: the most the entries may take together.
  TranscodeCache(std::string dir, std::uint64_t capacity_bytes);

  // Creates the directory, removes leftover temporaries, indexes the
  // entries present and evicts down to the capacity. kIoError when the
  // directory cannot be made.
  Status open();

  // The entry for key, marked as just used; nullopt when there is none.
  std::optional<Entry> find(const std::string& key);
  // Starts writing an entry for key; kInvalidArgument for a malformed key.
  Result<std::unique_ptr<Writer>> begin(const std::string& key);

  std::uint64_t size_bytes() const;
  std::size_t entries() const;
  std::uint64_t capacity_bytes() const { return capacity_; }

 private:
  class FileWriter;
  struct Item {
    Entry entry;
    std::list<std::string>::iterator use;  // into lru_
  };

  // Adds (or replaces) key's entry as the most recently used and evicts.
  void insert(const std::string& key, Entry entry);
  void evict_locked();
  void drop_locked(const std::string& key);

  const std::string dir_;
  const std::uint64_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, Item> items_;
  std::list<std::string> lru_;  // keys, most recently used first
  std::uint64_t total_ = 0;
};

}  // namespace hifi
