#include "common/text.h"

#include <boost/locale.hpp>

#include <algorithm>
#include <mutex>

namespace hifi {
namespace {

const std::locale& icu_locale() {
  static const std::locale locale = [] {
    boost::locale::generator gen;
    gen.use_ansi_encoding(false);
    return gen("en_US.UTF-8");
  }();
  return locale;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const auto n = text.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string nfc(std::string_view text) {
  if (!is_valid_utf8(text)) return std::string(text);
  return boost::locale::normalize(std::string(text), boost::locale::norm_nfc, icu_locale());
}

std::string without_control_chars(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\t' || c == '\n' || c == '\r') {
      out.push_back(' ');
    } else if (c < 0x20 || c == 0x7f) {
      continue;
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      ++i;  // U+0080-U+009F
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string fold_for_search(std::string_view text) {
  // ASCII is its own NFKC form, and its case folding maps A-Z to a-z and
  // nothing else: no need for ICU, which costs a microsecond or more a call
  // (the catalog folds five tags of every song as it loads).
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    std::string out(text);
    for (auto& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }
  if (!is_valid_utf8(text)) return std::string(text);
  auto normalized =
      boost::locale::normalize(std::string(text), boost::locale::norm_nfkc, icu_locale());
  return boost::locale::fold_case(normalized, icu_locale());
}

}  // namespace hifi

namespace hifi {

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  // Back up over continuation bytes to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

Result<std::string> clean_user_text(std::string_view text, std::size_t max_chars, std::string_view what,
                                    bool allow_empty) {
  if (!is_valid_utf8(text)) return invalid_argument(std::string(what) + " must be valid UTF-8");
  auto cleaned = nfc(without_control_chars(text));
  const auto first = cleaned.find_first_not_of(' ');
  cleaned = first == std::string::npos ? std::string() : cleaned.substr(first, cleaned.find_last_not_of(' ') - first + 1);
  if (cleaned.empty() && !allow_empty) return invalid_argument(std::string(what) + " must not be empty");
  std::size_t chars = 0;
  for (unsigned char c : cleaned) chars += (c & 0xC0) != 0x80;
  if (chars > max_chars) {
    return invalid_argument(std::string(what) + " may be at most " + std::to_string(max_chars) + " characters");
  }
  return cleaned;
}

void append_markup_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t': out += "&#9;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
  }
}

std::string markup_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_markup_escaped(out, text);
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::size_t> decode_escapes_into(std::string_view in, bool plus_is_space, char* out) {
  char* o = out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (plus_is_space && in[i] == '+') {
      *o++ = ' ';
    } else if (in[i] == '%') {
      const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      *o++ = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *o++ = in[i];
    }
  }
  return static_cast<std::size_t>(o - out);
}

namespace {

Result<std::string> decode_escapes(std::string_view in, bool plus_is_space) {
  // Most names, values and segments (ids, numbers, signatures) have nothing to decode.
  const auto first = std::min(in.find('%'), plus_is_space ? in.find('+') : std::string_view::npos);
  std::string out(in);
  if (first == std::string_view::npos) return out;
  const auto n = decode_escapes_into(in.substr(first), plus_is_space, out.data() + first);
  if (!n) return invalid_argument("malformed percent-encoding in the parameters");
  out.resize(first + *n);
  return out;
}

}  // namespace

Result<std::string> form_decode(std::string_view in) { return decode_escapes(in, true); }

Result<std::string> percent_decode(std::string_view in) { return decode_escapes(in, false); }

std::string ascii_lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace hifi
