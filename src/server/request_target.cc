#include "server/request_target.h"

#include <array>
#include <cctype>

#include "common/text.h"

namespace hifi {
namespace {

// RFC 3986: pchar = unreserved / pct-encoded / sub-delims / ":" / "@";
// a query also takes "/" and "?".
constexpr std::array<bool, 256> char_table(std::string_view extra) {
  std::array<bool, 256> table{};
  for (char c = 'a'; c <= 'z'; ++c) table[static_cast<unsigned char>(c)] = true;
  for (char c = 'A'; c <= 'Z'; ++c) table[static_cast<unsigned char>(c)] = true;
  for (char c = '0'; c <= '9'; ++c) table[static_cast<unsigned char>(c)] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=:@")) table[static_cast<unsigned char>(c)] = true;
  for (char c : extra) table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr auto kPathChars = char_table("/");
constexpr auto kQueryChars = char_table("/?");

// Whether every character of `text` is allowed, '%' only before two hex digits.
bool well_formed(std::string_view text, const std::array<bool, 256>& allowed) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (allowed[c]) continue;
    if (c != '%' || i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      return false;
    }
    i += 2;
  }
  return true;
}

// Percent-decodes text that well_formed() accepted (so it cannot fail).
std::string decoded(std::string_view text) { return percent_decode(text).value(); }

}  // namespace

std::optional<RequestTarget> RequestTarget::parse(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  RequestTarget out;
  const auto question = target.find('?');
  out.path_ = target.substr(0, question);
  if (question != std::string_view::npos) {
    out.has_query_ = true;
    out.query_ = target.substr(question + 1);
  }
  if (!well_formed(out.path_, kPathChars) || !well_formed(out.query_, kQueryChars)) return std::nullopt;
  return out;
}

std::string RequestTarget::path() const { return decoded(path_); }

std::vector<std::string> RequestTarget::segments() const {
  std::vector<std::string> out;
  if (path_.size() <= 1) return out;  // "/", or a target never parsed
  // Past the leading '/'. A leading "/./" is read as Boost.URL reads it:
  // the prefix that lets a path start with "//" without an authority, not
  // a segment of its own.
  std::size_t start = path_.substr(0, 3) == "/./" ? 3 : 1;
  for (;;) {
    const auto slash = path_.find('/', start);
    out.push_back(decoded(path_.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start)));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> RequestTarget::query_params() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (!has_query_) return out;
  std::string_view rest = query_;
  for (;;) {
    const auto amp = rest.find('&');
    const auto piece = rest.substr(0, amp);
    const auto eq = piece.find('=');
    // parse() let through only well-formed escapes, so neither can fail.
    auto name = form_decode(piece.substr(0, eq));
    auto value = form_decode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    out.emplace_back(name ? std::move(*name) : std::string(), value ? std::move(*value) : std::string());
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace hifi
