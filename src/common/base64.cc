#include "common/base64.h"

#include <cstdint>

namespace hifi {
namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlSafe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Appends the encoding to `out`, sized once and written by index: this
// runs for every signed URL and every blob response's Repr-Digest.
void append_encoded(std::string& out, std::string_view bytes, const char* alphabet, bool pad) {
  const std::size_t whole = bytes.size() / 3;
  const std::size_t left = bytes.size() - whole * 3;  // 0, 1 or 2
  const std::size_t start = out.size();
  out.resize(start + whole * 4 + (left == 0 ? 0 : pad ? 4 : left + 1));
  auto byte = [&](std::size_t i) { return std::uint32_t{static_cast<unsigned char>(bytes[i])}; };
  char* o = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    *o++ = alphabet[(n >> 18) & 63];
    *o++ = alphabet[(n >> 12) & 63];
    *o++ = alphabet[(n >> 6) & 63];
    *o++ = alphabet[n & 63];
  }
  if (left == 0) return;
  std::uint32_t n = byte(i) << 16;
  if (left == 2) n |= byte(i + 1) << 8;
  *o++ = alphabet[(n >> 18) & 63];
  *o++ = alphabet[(n >> 12) & 63];
  if (left == 2) *o++ = alphabet[(n >> 6) & 63];
  if (pad) {
    for (std::size_t k = left; k < 3; ++k) *o++ = '=';
  }
}

std::string encode(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  append_encoded(out, bytes, alphabet, pad);
  return out;
}

int standard_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStandard, true); }

void base64_append(std::string& out, std::string_view bytes) { append_encoded(out, bytes, kStandard, true); }

std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrlSafe, false); }

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return invalid_argument("base64: length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=') {
        // Padding only in the last group, only in its last two places.
        if (i + 4 != text.size() || j < 2) return invalid_argument("base64: misplaced '='");
        v[j] = 0;
        ++pad;
      } else {
        if (pad > 0) return invalid_argument("base64: data after '='");
        v[j] = standard_value(c);
        if (v[j] < 0) return invalid_argument("base64: character outside the alphabet");
      }
    }
    const std::uint32_t n = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) |
                            (std::uint32_t(v[2]) << 6) | std::uint32_t(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

}  // namespace hifi
