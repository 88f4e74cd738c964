// Unicode text helpers (Boost.Locale with its ICU backend).
//
// All functions take and return UTF-8. They are thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

bool is_valid_utf8(std::string_view text);
// NFC normalization; invalid UTF-8 is returned unchanged.
std::string nfc(std::string_view text);
// Full Unicode case folding after NFKC normalization: the key under which
// "BJÖRK", "Björk" and "björk" compare equal.
std::string fold_for_search(std::string_view text);
// Text safe to store, log and print on a terminal: C0 controls (tab, CR and
// LF become a space; ESC and the rest are dropped), DEL and the C1 controls
// (U+0080-U+009F, e.g. the 8-bit CSI) removed. Expects valid UTF-8.
std::string without_control_chars(std::string_view text);
// Text for XML or HTML, in content and in quoted attributes: & < > " '
// as references, tab, CR and LF as numeric references, the other C0
// controls (which XML 1.0 cannot carry) dropped.
void append_markup_escaped(std::string& out, std::string_view text);
std::string markup_escaped(std::string_view text);
// ASCII letters lowercased, every other byte as it is (header names, URL
// schemes, media types).
std::string ascii_lowercase(std::string_view text);
// A query string's or form body's name or value decoded: '+' is a space,
// %XX a byte (application/x-www-form-urlencoded). kInvalidArgument for a
// '%' not followed by two hex digits. The bytes are not checked as UTF-8.
Result<std::string> form_decode(std::string_view encoded);
// The same with '+' kept as it is (a URL path's segments).
Result<std::string> percent_decode(std::string_view encoded);
// Either decoding (form_decode with plus_is_space, else percent_decode)
// written to `out`, which has room for encoded.size() bytes: the decoded
// length, or nullopt for a malformed escape. No allocation.
std::optional<std::size_t> decode_escapes_into(std::string_view encoded, bool plus_is_space, char* out);
// Cuts UTF-8 text to at most max_bytes without splitting a character.
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);
// Text a user names something with (a playlist, a device, a share): valid
// UTF-8, trimmed of spaces, NFC, control characters removed, at most
// max_chars characters. kInvalidArgument starting with `what` ("the name")
// otherwise; empty text is an error unless allow_empty.
Result<std::string> clean_user_text(std::string_view text, std::size_t max_chars, std::string_view what,
                                    bool allow_empty = false);

}  // namespace hifi
