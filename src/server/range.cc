#include "server/range.h"

#include <limits>

namespace hifi {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Saturates at UINT64_MAX: a position that large is past the end of any
// representation, so the exact value never matters.
std::uint64_t to_u64_saturating(std::string_view digits) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (char c : digits) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (kMax - d) / 10) return kMax;
    v = v * 10 + d;
  }
  return v;
}

// Compares two digit strings by numeric value without converting them, so
// that "last-pos < first-pos" is decided exactly even beyond 64 bits.
bool numerically_less(std::string_view a, std::string_view b) {
  while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
  while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

RangeRequest parse_range(std::string_view header, std::uint64_t size) {
  RangeRequest whole;
  RangeRequest unsatisfiable;
  unsatisfiable.kind = RangeRequest::Kind::kUnsatisfiable;

  header = trim_ows(header);
  const auto eq = header.find('=');
  if (eq == std::string_view::npos) return whole;
  // Range unit names are case-insensitive (RFC 9110 section 14.1).
  if (!iequals(header.substr(0, eq), "bytes")) return whole;

  // The range set is a #list, whose recipients must tolerate empty elements
  // such as "bytes=0-1,". More than one real element is a multi-range
  // request, which HiFi answers with the whole representation.
  std::string_view spec;
  std::string_view rest = header.substr(eq + 1);
  int elements = 0;
  while (true) {
    const auto comma = rest.find(',');
    const auto element = trim_ows(rest.substr(0, comma));
    if (!element.empty()) {
      if (++elements > 1) return whole;
      spec = element;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (elements == 0) return whole;

  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  const auto first_text = spec.substr(0, dash);
  const auto last_text = spec.substr(dash + 1);

  if (first_text.empty()) {
    // suffix-range: the last n bytes.
    if (!all_digits(last_text)) return whole;
    const auto n = to_u64_saturating(last_text);
    if (n == 0 || size == 0) return unsatisfiable;
    RangeRequest r;
    r.kind = RangeRequest::Kind::kPartial;
    r.range.first = n >= size ? 0 : size - n;
    r.range.last = size - 1;
    return r;
  }

  if (!all_digits(first_text)) return whole;
  if (!last_text.empty()) {
    if (!all_digits(last_text)) return whole;
    // RFC 9110 makes such a range-spec invalid, not unsatisfiable.
    if (numerically_less(last_text, first_text)) return whole;
  }
  const auto first = to_u64_saturating(first_text);
  if (first >= size) return unsatisfiable;
  std::uint64_t last = size - 1;
  if (!last_text.empty()) {
    const auto requested = to_u64_saturating(last_text);
    if (requested < last) last = requested;
  }
  RangeRequest r;
  r.kind = RangeRequest::Kind::kPartial;
  r.range.first = first;
  r.range.last = last;
  return r;
}

}  // namespace hifi
