// A ByteSource over a local file that counts what is read of it: bytes, and
// reads that did not start where the previous one ended (jumps).
#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "media/byte_source.h"

namespace hifi::media {

class CountingSource final : public ByteSource {
 public:
  // `read_delay`: each read takes at least that long (a slow network).
  explicit CountingSource(std::unique_ptr<FileByteSource> file,
                          std::chrono::milliseconds read_delay = std::chrono::milliseconds(0))
      : file_(std::move(file)), read_delay_(read_delay) {}

  Result<std::size_t> read(std::uint64_t offset, char* out, std::size_t max) override {
    if (read_delay_.count() > 0) std::this_thread::sleep_for(read_delay_);
    auto n = file_->read(offset, out, max);
    if (n) {
      bytes_ += *n;
      if (offset != next_) ++jumps_;
      next_ = offset + *n;
    }
    return n;
  }
  std::optional<std::uint64_t> size() override { return file_->size(); }
  bool seekable() const override { return true; }
  std::string describe() const override { return file_->describe(); }

  // May be read from any thread.
  std::uint64_t bytes() const { return bytes_; }
  int jumps() const { return jumps_; }

 private:
  std::unique_ptr<FileByteSource> file_;
  std::chrono::milliseconds read_delay_;
  std::atomic<std::uint64_t> bytes_{0};
  std::uint64_t next_ = 0;
  std::atomic<int> jumps_{0};
};

}  // namespace hifi::media
