// Unicode text helpers (Boost.Locale with its ICU backend).
//
// All functions take and return UTF-8. They are thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace hifi {

bool is_valid_utf8(std::string_view text);
// NFC normalization; invalid UTF-8 is returned unchanged.
std::string nfc(std::string_view text);
// Full Unicode case folding after NFKC normalization: the key under which
// "BJÖRK", "Björk" and "björk" compare equal.
std::string fold_for_search(std::string_view text);

}  // namespace hifi
