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
  // Most targets have no escape: one lookup per byte, no branch.
  bool plain = true;
  for (const char c : text) plain &= allowed[static_cast<unsigned char>(c)];
  if (plain) return true;
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

// Decoded text of a part of the target: a view of `text` itself when it
// has nothing to decode, else its decoding appended at `*cursor` (in a
// buffer as large as the whole target part). well_formed() accepted it, so
// the decoding cannot fail.
std::string_view decoded_view(std::string_view text, bool plus_is_space, std::unique_ptr<char[]>& buffer,
                              std::size_t buffer_size, char** cursor) {
  const bool plain = text.find('%') == std::string_view::npos &&
                     (!plus_is_space || text.find('+') == std::string_view::npos);
  if (plain) return text;
  if (!buffer) {
    buffer = std::make_unique_for_overwrite<char[]>(buffer_size);
    *cursor = buffer.get();
  }
  char* begin = *cursor;
  *cursor += decode_escapes_into(text, plus_is_space, begin).value();
  return {begin, static_cast<std::size_t>(*cursor - begin)};
}

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

std::string RequestTarget::path() const { return percent_decode(path_).value(); }

RequestTarget::SegmentViews RequestTarget::segment_views() const {
  SegmentViews out;
  if (path_.size() <= 1) return out;  // "/", or a target never parsed
  // Past the leading '/'. A leading "/./" is read as Boost.URL reads it:
  // the prefix that lets a path start with "//" without an authority, not
  // a segment of its own.
  std::size_t start = path_.substr(0, 3) == "/./" ? 3 : 1;
  char* cursor = nullptr;
  out.items.reserve(8);
  for (;;) {
    const auto slash = path_.find('/', start);
    const auto segment = path_.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    out.items.push_back(decoded_view(segment, false, out.decoded, path_.size(), &cursor));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::vector<std::string> RequestTarget::segments() const {
  const auto views = segment_views();
  return {views.items.begin(), views.items.end()};
}

RequestTarget::ParamViews RequestTarget::param_views() const {
  ParamViews out;
  if (!has_query_) return out;
  std::string_view rest = query_;
  char* cursor = nullptr;
  out.items.reserve(8);
  for (;;) {
    const auto amp = rest.find('&');
    const auto piece = rest.substr(0, amp);
    const auto eq = piece.find('=');
    const auto name = decoded_view(piece.substr(0, eq), true, out.decoded, query_.size(), &cursor);
    const auto value = decoded_view(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1), true,
                                    out.decoded, query_.size(), &cursor);
    out.items.emplace_back(name, value);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> RequestTarget::query_params() const {
  const auto views = param_views();
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(views.items.size());
  for (const auto& [name, value] : views.items) out.emplace_back(name, value);
  return out;
}

}  // namespace hifi
