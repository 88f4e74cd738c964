// Cryptographically secure random identifiers (libsodium).
#pragma once

#include <cstdint>
#include <string>

namespace hifi {

// Must be called once before any other function here; safe to call again.
void init_crypto();
// n random bytes as 2n lowercase hex characters.
std::string random_hex(std::size_t n_bytes);
// A uniformly random 64-bit number.
std::uint64_t random_u64();

}  // namespace hifi
