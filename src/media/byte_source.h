// ByteSource: the encoded bytes of one song, read by offset. AudioDecoder
// reads through one (a custom FFmpeg AVIOContext, see ffmpeg_input.h), so
// that a song can be decoded from wherever its bytes are: a local file
// (FileByteSource), or the server's stream as it arrives over HTTP
// (client/http_byte_source.h).
//
// Contract:
//  - read(offset, out, max) copies up to `max` bytes starting at `offset`
//    into `out` and returns how many; 0 only at the end of the input. It may
//    block (on the disk or the network) until at least one byte is there.
//    Failure: kIoError when a local file cannot be read, kUnavailable when
//    the bytes cannot be fetched, kUnsupported for a jump a non-seekable
//    source cannot make; the decoder reports it as a read error.
//  - size(): the input's length in bytes, when known.
//  - seekable(): reads may start at any offset. When false, each read must
//    start where the previous one ended (a live stream with no Range
//    support); FFmpeg is then told that the input cannot seek.
//  - interrupt(): a read blocked now, and every later one, fails promptly
//    (kUnavailable). For stopping a decoding thread that waits on the
//    network.
//  - expect_seek(frame, rate): a hint that a seek is coming (below).
//
// Thread-safety: one thread reads at a time; size() and seekable() may be
// called from that thread only; interrupt() from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

namespace hifi::media {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  virtual Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) = 0;
  virtual std::optional<std::uint64_t> size() = 0;
  virtual bool seekable() const = 0;
  // What the source reads, for messages ("song 4d63…", a path).
  virtual std::string describe() const = 0;
  virtual void interrupt() {}
  // A hint from AudioDecoder::seek, on the reading thread, right before it
  // moves the container to reach output frame `frame` at `sample_rate`: a
  // source whose every read costs a round trip may fetch the bytes that
  // seek and the decoding after it will read, in one go (see
  // media/seek_reads.h). Reads give the same bytes whatever it does.
  virtual void expect_seek(std::uint64_t /*frame*/, int /*sample_rate*/) {}
};

// A local file read with pread(2). open() fails with kIoError when the file
// cannot be opened.
class FileByteSource final : public ByteSource {
 public:
  static Result<std::unique_ptr<FileByteSource>> open(const std::string& path);
  ~FileByteSource() override;
  FileByteSource(const FileByteSource&) = delete;
  FileByteSource& operator=(const FileByteSource&) = delete;

  Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) override;
  std::optional<std::uint64_t> size() override { return size_; }
  bool seekable() const override { return true; }
  std::string describe() const override { return path_; }

 private:
  FileByteSource(std::string path, int fd, std::uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_;
  std::uint64_t size_;
};

}  // namespace hifi::media
