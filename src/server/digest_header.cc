#include "server/digest_header.h"

#include <cstring>

#include "common/base64.h"
#include "common/text.h"

namespace hifi {
namespace {

constexpr std::size_t kMaxHeaderBytes = 8 * 1024;

bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_lcalpha(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_tchar(char c) {
  return is_alpha(c) || is_digit(c) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}
bool is_base64_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '=';
}
bool is_printable_ascii(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u <= 0x7e;
}
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
int hex_value(char c) { return is_digit(c) ? c - '0' : c - 'a' + 10; }

// What the caller needs to know about a member's value: only sha-256's
// decoded bytes are kept, everything else is merely validated.
struct BareItem {
  bool is_byte_sequence = false;
  std::string bytes;
};

// A recursive-descent parser for the Structured Fields grammar (RFC 8941,
// with the Date and Display String types RFC 9651 added, so that a newer
// sender's other members do not make HiFi reject the whole header). Every
// method consumes from in_ and returns false on a syntax error.
class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  // Parsing a Dictionary (RFC 8941 section 4.2.2) at the top level.
  bool dictionary(std::optional<BareItem>* sha256) {
    skip_sp();
    while (!in_.empty()) {
      std::string key;
      if (!parse_key(&key)) return false;
      BareItem item;
      bool is_item = true;
      if (peek('=')) {
        in_.remove_prefix(1);
        if (peek('(')) {
          is_item = false;
          if (!inner_list()) return false;
        } else if (!bare_item(&item) || !parameters()) {
          return false;
        }
      } else {
        // A key alone is the Boolean true.
        if (!parameters()) return false;
      }
      // A later duplicate overwrites the earlier member.
      if (key == "sha-256") {
        if (is_item) {
          *sha256 = std::move(item);
        } else {
          *sha256 = BareItem{};
        }
      }
      skip_ows();
      if (in_.empty()) return true;
      if (!peek(',')) return false;
      in_.remove_prefix(1);
      skip_ows();
      if (in_.empty()) return false;  // trailing comma
    }
    return true;
  }

 private:
  bool peek(char c) const { return !in_.empty() && in_.front() == c; }
  void skip_sp() {
    while (peek(' ')) in_.remove_prefix(1);
  }
  void skip_ows() {
    while (peek(' ') || peek('\t')) in_.remove_prefix(1);
  }

  bool parse_key(std::string* key) {
    if (in_.empty() || !(is_lcalpha(in_.front()) || in_.front() == '*')) return false;
    std::size_t n = 1;
    while (n < in_.size()) {
      const char c = in_[n];
      if (!(is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*')) break;
      ++n;
    }
    key->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }

  bool inner_list() {
    in_.remove_prefix(1);  // '('
    while (true) {
      skip_sp();
      if (in_.empty()) return false;
      if (peek(')')) {
        in_.remove_prefix(1);
        return parameters();
      }
      BareItem ignored;
      if (!bare_item(&ignored) || !parameters()) return false;
      if (!peek(' ') && !peek(')')) return false;
    }
  }

  bool parameters() {
    while (peek(';')) {
      in_.remove_prefix(1);
      skip_sp();
      std::string key;
      if (!parse_key(&key)) return false;
      if (peek('=')) {
        in_.remove_prefix(1);
        BareItem ignored;
        if (!bare_item(&ignored)) return false;
      }
    }
    return true;
  }

  bool bare_item(BareItem* item) {
    if (in_.empty()) return false;
    const char c = in_.front();
    if (c == '-' || is_digit(c)) return number(/*integer_only=*/false);
    if (c == '"') return string();
    if (c == '*' || is_alpha(c)) return token();
    if (c == ':') return byte_sequence(item);
    if (c == '?') return boolean();
    if (c == '@') {
      in_.remove_prefix(1);
      return number(/*integer_only=*/true);
    }
    if (c == '%') return display_string();
    return false;
  }

  // Parsing an Integer or Decimal (RFC 8941 section 4.2.4).
  bool number(bool integer_only) {
    if (peek('-')) in_.remove_prefix(1);
    if (in_.empty() || !is_digit(in_.front())) return false;
    std::size_t n = 0;
    std::size_t dot = std::string_view::npos;
    while (n < in_.size()) {
      const char c = in_[n];
      if (is_digit(c)) {
        ++n;
      } else if (c == '.' && dot == std::string_view::npos) {
        if (n > 12) return false;
        dot = n++;
      } else {
        break;
      }
      if (dot == std::string_view::npos && n > 15) return false;
      if (dot != std::string_view::npos && n > 16) return false;
    }
    if (dot != std::string_view::npos) {
      if (integer_only) return false;
      const std::size_t fraction = n - dot - 1;
      if (fraction == 0 || fraction > 3) return false;
    }
    in_.remove_prefix(n);
    return true;
  }

  bool string() {
    in_.remove_prefix(1);  // '"'
    while (!in_.empty()) {
      const char c = in_.front();
      in_.remove_prefix(1);
      if (c == '"') return true;
      if (c == '\\') {
        if (!peek('"') && !peek('\\')) return false;
        in_.remove_prefix(1);
      } else if (!is_printable_ascii(c)) {
        return false;
      }
    }
    return false;
  }

  bool token() {
    std::size_t n = 1;
    while (n < in_.size() && (is_tchar(in_[n]) || in_[n] == ':' || in_[n] == '/')) ++n;
    in_.remove_prefix(n);
    return true;
  }

  bool byte_sequence(BareItem* item) {
    in_.remove_prefix(1);  // ':'
    const auto end = in_.find(':');
    if (end == std::string_view::npos) return false;
    std::string text(in_.substr(0, end));
    in_.remove_prefix(end + 1);
    for (char c : text) {
      if (!is_base64_char(c)) return false;
    }
    // RFC 8941 asks parsers to tolerate missing "=" padding.
    if (text.size() % 4 == 1) return false;
    while (text.size() % 4 != 0) text += '=';
    auto bytes = base64_decode(text);
    if (!bytes) return false;
    item->is_byte_sequence = true;
    item->bytes = std::move(*bytes);
    return true;
  }

  bool boolean() {
    if (in_.size() < 2 || (in_[1] != '0' && in_[1] != '1')) return false;
    in_.remove_prefix(2);
    return true;
  }

  // RFC 9651 section 4.2.10: %"..." with lowercase %xx escapes of UTF-8.
  bool display_string() {
    in_.remove_prefix(1);  // '%'
    if (!peek('"')) return false;
    in_.remove_prefix(1);
    std::string decoded;
    while (!in_.empty()) {
      const char c = in_.front();
      in_.remove_prefix(1);
      if (!is_printable_ascii(c)) return false;
      if (c == '"') return is_valid_utf8(decoded);
      if (c == '%') {
        if (in_.size() < 2 || !is_lower_hex(in_[0]) || !is_lower_hex(in_[1])) return false;
        decoded += static_cast<char>(hex_value(in_[0]) * 16 + hex_value(in_[1]));
        in_.remove_prefix(2);
      } else {
        decoded += c;
      }
    }
    return false;
  }

  std::string_view in_;
};

}  // namespace

Result<std::optional<Digest>> parse_sha256_digest_header(std::string_view value) {
  if (value.size() > kMaxHeaderBytes) {
    return invalid_argument("digest header is longer than 8 KiB");
  }
  Parser parser(value);
  std::optional<BareItem> sha256;
  if (!parser.dictionary(&sha256)) {
    return invalid_argument("digest header is not a well-formed structured field dictionary");
  }
  if (!sha256) return std::optional<Digest>();
  if (!sha256->is_byte_sequence || sha256->bytes.size() != Digest().size()) {
    return invalid_argument("digest header's sha-256 value is not a 32-byte byte sequence");
  }
  Digest digest;
  std::memcpy(digest.data(), sha256->bytes.data(), digest.size());
  return std::optional<Digest>(digest);
}

std::string format_sha256_digest_header(const Digest& digest) {
  const std::string_view bytes(reinterpret_cast<const char*>(digest.data()), digest.size());
  std::string out;
  out.reserve(9 + 44 + 1);
  out.append("sha-256=:");
  base64_append(out, bytes);
  out.push_back(':');
  return out;
}

}  // namespace hifi
