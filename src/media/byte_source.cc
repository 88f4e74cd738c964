#include "media/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hifi::media {

Result<std::unique_ptr<FileByteSource>> FileByteSource::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot read " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot read " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("cannot read " + path + ": not a regular file");
  }
  return std::unique_ptr<FileByteSource>(
      new FileByteSource(path, fd, static_cast<std::uint64_t>(st.st_size)));
}

FileByteSource::~FileByteSource() { ::close(fd_); }

Result<std::size_t> FileByteSource::read(std::uint64_t offset, char* out, std::size_t max) {
  for (;;) {
    const auto n = ::pread(fd_, out, max, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return io_error("cannot read " + path_ + ": " + std::strerror(errno));
  }
}

}  // namespace hifi::media
