#include "common/random.h"

#include <sodium.h>

#include <stdexcept>
#include <vector>

#include "common/sha256.h"

namespace hifi {

void init_crypto() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

std::string random_hex(std::size_t n_bytes) {
  std::vector<std::uint8_t> bytes(n_bytes);
  randombytes_buf(bytes.data(), bytes.size());
  return to_hex(bytes.data(), bytes.size());
}

std::uint64_t random_u64() {
  std::uint64_t v = 0;
  randombytes_buf(&v, sizeof v);
  return v;
}

}  // namespace hifi
