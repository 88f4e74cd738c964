// Cryptographically secure random identifiers (libsodium).
#pragma once

#include <string>

namespace hifi {

// Must be called once before any other function here; safe to call again.
void init_crypto();
// n random bytes as 2n lowercase hex characters.
std::string random_hex(std::size_t n_bytes);

}  // namespace hifi
