// The WAV sink: paced like the null sink, and records what it plays to a
// 16-bit PCM WAV file (for tests and for checking sync offline).
#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "client/sinks/sinks.h"
#include "client/sinks/wav_header.h"

namespace hifi::client::sinks {
namespace {

// RIFF sizes are 32-bit.
constexpr std::uint64_t kMaxDataBytes = std::numeric_limits<std::uint32_t>::max() - 36;

std::string errno_text(int err) { return std::generic_category().message(err); }

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool pwrite_all(int fd, const void* data, std::size_t size, off_t offset) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd, p, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    offset += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

class WavSink final : public PacedSink {
 public:
  WavSink(AudioFormat format, std::string path, int fd)
      : PacedSink(format), path_(std::move(path)), fd_(fd) {}

  ~WavSink() override {
    patch_header();
    ::fsync(fd_);
    ::close(fd_);
  }

  Status write_header() {
    const auto h = header(0);
    if (!write_all(fd_, h.data(), h.size())) return io_error("cannot write " + path_ + ": " + errno_text(errno));
    return Status::ok();
  }

  // The file keeps what was written (the player's output), rewound or not.
  void rewind(double wall_ms) override {
    PacedSink::rewind(wall_ms);
    patch_header();
  }

  std::string describe() const override {
    return "WAV file " + path_ + " (" + std::to_string(format().sample_rate) + " Hz, " +
           std::to_string(format().channels) + " ch)";
  }

 protected:
  Status consume(const std::int16_t* samples, std::size_t frames) override {
    if (!error_.is_ok()) return error_;
    const std::size_t count = frames * static_cast<std::size_t>(format().channels);
    const std::size_t bytes = count * sizeof(std::int16_t);
    if (data_bytes_ + bytes > kMaxDataBytes) {
      return error_ = io_error("cannot write " + path_ + ": WAV files are limited to 4 GB");
    }
    const void* data = samples;
    if constexpr (std::endian::native == std::endian::big) {
      swapped_.resize(count);
      for (std::size_t i = 0; i < count; ++i) {
        auto v = static_cast<std::uint16_t>(samples[i]);
        swapped_[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>((v >> 8) | (v << 8)));
      }
      data = swapped_.data();
    }
    if (!write_all(fd_, data, bytes)) {
      return error_ = io_error("cannot write " + path_ + ": " + errno_text(errno));
    }
    data_bytes_ += bytes;
    return Status::ok();
  }

 private:
  std::array<unsigned char, kWavHeaderBytes> header(std::uint32_t data_bytes) const {
    return wav_header(static_cast<std::uint32_t>(format().sample_rate), static_cast<std::uint16_t>(format().channels),
                      data_bytes);
  }

  // Makes the file valid as it stands (sizes of what was written so far).
  void patch_header() {
    const auto h = header(static_cast<std::uint32_t>(data_bytes_));
    if (!pwrite_all(fd_, h.data() + 4, 4, 4) || !pwrite_all(fd_, h.data() + 40, 4, 40)) {
      if (error_.is_ok()) error_ = io_error("cannot write " + path_ + ": " + errno_text(errno));
    }
  }

  std::string path_;
  int fd_;
  std::uint64_t data_bytes_ = 0;
  Status error_;  // sticky: once the file is broken, every write fails
  std::vector<std::int16_t> swapped_;
};

}  // namespace

Result<std::unique_ptr<AudioSink>> make_wav_sink(const std::string& path, const AudioFormat& format) {
  if (path.empty()) return invalid_argument("wav sink needs a file name: wav:PATH");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create " + path + ": " + errno_text(errno));
  auto sink = std::make_unique<WavSink>(format, path, fd);
  if (Status s = sink->write_header(); !s) return s;
  return std::unique_ptr<AudioSink>(std::move(sink));
}

}  // namespace hifi::client::sinks
