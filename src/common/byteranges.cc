#include "common/byteranges.h"

#include <charconv>

#include "common/text.h"

namespace hifi {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

Status malformed(const std::string& why) { return invalid_argument("malformed multipart/byteranges body: " + why); }

}  // namespace

std::string byteranges_content_type(std::string_view boundary) {
  return "multipart/byteranges; boundary=" + std::string(boundary);
}

std::string format_byteranges(const std::vector<BytePart>& parts, std::string_view boundary,
                              std::string_view part_type, std::uint64_t size) {
  std::string out;
  std::size_t bytes = 0;
  for (const auto& p : parts) bytes += p.bytes.size() + 128;
  out.reserve(bytes + 64);
  for (const auto& p : parts) {
    out.append("--").append(boundary).append("\r\nContent-Type: ").append(part_type);
    out.append("\r\nContent-Range: bytes ").append(std::to_string(p.first)).append("-");
    out.append(std::to_string(p.first + p.bytes.size() - 1)).append("/").append(std::to_string(size));
    out.append("\r\n\r\n").append(p.bytes).append("\r\n");
  }
  out.append("--").append(boundary).append("--\r\n");
  return out;
}

Result<std::vector<BytePart>> parse_byteranges(std::string_view content_type, std::string_view body) {
  const auto semicolon = content_type.find(';');
  if (ascii_lowercase(trim(content_type.substr(0, semicolon))) != "multipart/byteranges" || semicolon == std::string_view::npos) {
    return invalid_argument("not multipart/byteranges: " + std::string(content_type.substr(0, 64)));
  }
  std::string boundary;
  for (auto params = content_type.substr(semicolon + 1); !params.empty();) {
    const auto next = params.find(';');
    const auto param = trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    const auto eq = param.find('=');
    if (eq == std::string_view::npos || ascii_lowercase(trim(param.substr(0, eq))) != "boundary") continue;
    auto value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    boundary = std::string(value);
  }
  if (boundary.empty() || boundary.size() > 70) return invalid_argument("multipart/byteranges without a usable boundary");
  const std::string delimiter = "--" + boundary;

  std::vector<BytePart> parts;
  std::size_t at = body.find(delimiter);
  if (at == std::string_view::npos) return malformed("no boundary");
  for (;;) {
    at += delimiter.size();
    if (body.substr(at, 2) == "--") break;  // the closing delimiter
    if (body.substr(at, 2) != "\r\n") return malformed("a boundary line does not end");
    at += 2;
    bool have_range = false;
    std::uint64_t first = 0, last = 0, total = 0;
    for (;;) {
      const auto eol = body.find("\r\n", at);
      if (eol == std::string_view::npos) return malformed("a part's header does not end");
      const auto line = body.substr(at, eol - at);
      at = eol + 2;
      if (line.empty()) break;
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) return malformed("a header line without ':'");
      if (ascii_lowercase(trim(line.substr(0, colon))) != "content-range") continue;
      auto value = trim(line.substr(colon + 1));
      if (ascii_lowercase(value.substr(0, 6)) != "bytes ") return malformed("Content-Range is not in bytes");
      value = value.substr(6);
      const auto dash = value.find('-');
      const auto slash = value.find('/');
      if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash ||
          !parse_u64(value.substr(0, dash), first) || !parse_u64(value.substr(dash + 1, slash - dash - 1), last) ||
          last < first || (value.substr(slash + 1) != "*" && !parse_u64(value.substr(slash + 1), total))) {
        return malformed("Content-Range '" + std::string(value.substr(0, 64)) + "'");
      }
      have_range = true;
    }
    if (!have_range) return malformed("a part without Content-Range");
    if (last - first >= body.size() - at) return malformed("a part is shorter than its Content-Range");
    const std::uint64_t length = last - first + 1;
    parts.push_back({first, std::string(body.substr(at, static_cast<std::size_t>(length))), total});
    at += static_cast<std::size_t>(length);
    if (body.substr(at, 2) != "\r\n" || body.substr(at + 2, delimiter.size()) != delimiter) {
      return malformed("a part is longer than its Content-Range");
    }
    at += 2;
  }
  return parts;
}

}  // namespace hifi
