#include "server/multipart.h"

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "common/text.h"

namespace hifi {
namespace {

constexpr std::size_t kMaxBoundary = 70;  // RFC 2046 section 5.1.1

bool is_ows(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}
bool has_char(const char* set, char c) { return c != '\0' && std::strchr(set, c) != nullptr; }
bool is_tchar(char c) { return is_alpha(c) || is_digit(c) || has_char("!#$%&'*+-.^_`|~", c); }
bool is_ctl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
bool is_bchar(char c) { return is_alpha(c) || is_digit(c) || has_char("'()+_,-./:=? ", c); }
// RFC 8187 attr-char.
bool is_attr_char(char c) { return is_alpha(c) || is_digit(c) || has_char("!#$&+-.^_`|~", c); }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::size_t token_end(std::string_view s, std::size_t pos) {
  while (pos < s.size() && is_tchar(s[pos])) ++pos;
  return pos;
}

Status validate_boundary(std::string_view boundary) {
  if (boundary.empty() || boundary.size() > kMaxBoundary) {
    return invalid_argument("multipart boundary must be 1 to 70 characters long");
  }
  for (char c : boundary) {
    if (!is_bchar(c)) {
      return invalid_argument("multipart boundary has a character RFC 2046 forbids");
    }
  }
  if (boundary.back() == ' ') return invalid_argument("multipart boundary ends with a space");
  return Status::ok();
}

struct Parameter {
  std::string name;  // lowercase
  std::string value;
  bool quoted = false;
};

// quoted-string (RFC 9110 section 5.6.4) starting at s[*pos] == '"'; on
// success *pos is just past the closing quote and *out holds the unescaped
// text.
bool parse_quoted_string(std::string_view s, std::size_t* pos, std::string* out) {
  std::size_t i = *pos + 1;
  out->clear();
  while (i < s.size()) {
    const char c = s[i++];
    if (c == '"') {
      *pos = i;
      return true;
    }
    if (c == '\\') {
      if (i == s.size() || (is_ctl(s[i]) && s[i] != '\t')) return false;
      *out += s[i++];
    } else if (is_ctl(c) && c != '\t') {
      return false;
    } else {
      *out += c;
    }
  }
  return false;
}

// parameters = *( OWS ";" OWS [ parameter ] ) with
// parameter = token "=" ( token / quoted-string )   (RFC 9110 section 5.6.6).
bool parse_parameters(std::string_view s, std::vector<Parameter>* out) {
  std::size_t pos = 0;
  while (true) {
    while (pos < s.size() && is_ows(s[pos])) ++pos;
    if (pos == s.size()) return true;
    if (s[pos] != ';') return false;
    ++pos;
    while (pos < s.size() && is_ows(s[pos])) ++pos;
    if (pos == s.size() || s[pos] == ';') continue;
    const std::size_t name_end = token_end(s, pos);
    if (name_end == pos || name_end == s.size() || s[name_end] != '=') return false;
    Parameter p;
    p.name = to_lower(s.substr(pos, name_end - pos));
    pos = name_end + 1;
    if (pos < s.size() && s[pos] == '"') {
      if (!parse_quoted_string(s, &pos, &p.value)) return false;
      p.quoted = true;
    } else {
      const std::size_t value_end = token_end(s, pos);
      if (value_end == pos) return false;
      p.value.assign(s.substr(pos, value_end - pos));
      pos = value_end;
    }
    out->push_back(std::move(p));
  }
}

const Parameter* find_unique(const std::vector<Parameter>& params, std::string_view name,
                             bool* duplicate) {
  const Parameter* found = nullptr;
  for (const auto& p : params) {
    if (p.name != name) continue;
    if (found != nullptr) *duplicate = true;
    found = &p;
  }
  return found;
}

// ext-value (RFC 8187 section 3.2): charset "'" [ language ] "'" value-chars.
// nullopt for a charset other than UTF-8 or ISO-8859-1, which the RFC lets a
// recipient ignore, falling back to the plain parameter.
Result<std::optional<std::string>> decode_ext_value(std::string_view v) {
  const auto malformed = [] { return invalid_argument("multipart body: malformed filename*"); };
  const auto q1 = v.find('\'');
  if (q1 == std::string_view::npos) return malformed();
  const auto q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return malformed();
  const std::string charset = to_lower(v.substr(0, q1));
  std::string bytes;
  for (std::size_t i = q2 + 1; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '%') {
      if (i + 2 >= v.size() || !is_hex(v[i + 1]) || !is_hex(v[i + 2])) return malformed();
      bytes += static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
      i += 2;
    } else if (is_attr_char(c)) {
      bytes += c;
    } else {
      return malformed();
    }
  }
  if (charset == "utf-8") return std::optional<std::string>(std::move(bytes));
  if (charset == "iso-8859-1") {
    std::string utf8;
    for (char c : bytes) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x80) {
        utf8 += c;
      } else {
        utf8 += static_cast<char>(0xc0 | (u >> 6));
        utf8 += static_cast<char>(0x80 | (u & 0x3f));
      }
    }
    return std::optional<std::string>(std::move(utf8));
  }
  return std::optional<std::string>();
}

bool is_clean_text(std::string_view s) {
  for (char c : s) {
    if (is_ctl(c)) return false;
  }
  return is_valid_utf8(s);
}

// disposition = disposition-type *( OWS ";" OWS disp-ext-parm )  (RFC 6266).
// Any disposition type is accepted: only the parameters matter here.
Status parse_content_disposition(std::string_view value, MultipartPartHeaders* headers) {
  const auto malformed = [] {
    return invalid_argument("multipart body: malformed Content-Disposition");
  };
  const std::size_t type_end = token_end(value, 0);
  if (type_end == 0) return malformed();
  std::vector<Parameter> params;
  if (!parse_parameters(value.substr(type_end), &params)) return malformed();
  bool duplicate = false;
  const auto* name = find_unique(params, "name", &duplicate);
  const auto* filename = find_unique(params, "filename", &duplicate);
  const auto* ext_filename = find_unique(params, "filename*", &duplicate);
  // Two different names for one part would let two readers of the same body
  // disagree on it.
  if (duplicate) {
    return invalid_argument("multipart body: repeated Content-Disposition parameter");
  }
  if (name != nullptr) headers->name = name->value;
  if (filename != nullptr) headers->filename = filename->value;
  if (ext_filename != nullptr) {
    if (ext_filename->quoted) return malformed();
    auto decoded = decode_ext_value(ext_filename->value);
    if (!decoded) return decoded.status();
    if (*decoded) headers->filename = std::move(**decoded);
  }
  if (!is_clean_text(headers->name) || !is_clean_text(headers->filename)) {
    return invalid_argument(
        "multipart body: part name or filename is not UTF-8 text without control characters");
  }
  return Status::ok();
}

// block: the part's header lines, each ending in CRLF (RFC 2046 section 5.1
// via RFC 822 syntax). Folded lines are unfolded; unknown fields ignored.
Status parse_part_headers(std::string_view block, MultipartPartHeaders* headers) {
  std::vector<std::pair<std::string, std::string>> fields;
  while (!block.empty()) {
    const auto eol = block.find("\r\n");
    const auto line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    for (char c : line) {
      if (is_ctl(c) && c != '\t') {
        return invalid_argument("multipart body: control character in a part header");
      }
    }
    if (!line.empty() && is_ows(line.front())) {
      if (fields.empty()) return invalid_argument("multipart body: malformed part header");
      auto& value = fields.back().second;
      const auto more = trim_ows(line);
      if (!more.empty()) {
        if (!value.empty()) value += ' ';
        value += more;
      }
      continue;
    }
    const std::size_t name_end = token_end(line, 0);
    if (name_end == 0 || name_end == line.size() || line[name_end] != ':') {
      return invalid_argument("multipart body: malformed part header");
    }
    fields.emplace_back(to_lower(line.substr(0, name_end)),
                        std::string(trim_ows(line.substr(name_end + 1))));
  }
  bool seen_disposition = false;
  bool seen_type = false;
  for (const auto& [name, value] : fields) {
    if (name == "content-disposition") {
      if (seen_disposition) {
        return invalid_argument("multipart body: part has two Content-Disposition fields");
      }
      seen_disposition = true;
      Status s = parse_content_disposition(value, headers);
      if (!s) return s;
    } else if (name == "content-type") {
      if (seen_type) return invalid_argument("multipart body: part has two Content-Type fields");
      seen_type = true;
      headers->content_type = value;
    }
  }
  return Status::ok();
}

// Where the unsearched tail of data[pos..] could begin a delimiter that the
// next chunk completes; data.size() when it cannot. A delimiter's only CR is
// its first byte (boundaries have no CR), so only the last CR in the final
// delim.size() - 1 bytes can start one.
std::size_t partial_delimiter_start(std::string_view data, std::size_t pos,
                                    std::string_view delim) {
  const std::size_t window = delim.size() - 1;
  const std::size_t from = data.size() - pos > window ? data.size() - window : pos;
  const auto in_window = data.substr(from).rfind('\r');
  if (in_window == std::string_view::npos) return data.size();
  const std::size_t cr = from + in_window;
  const auto tail = data.substr(cr);
  return delim.substr(0, tail.size()) == tail ? cr : data.size();
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  content_type = trim_ows(content_type);
  const std::size_t type_end = token_end(content_type, 0);
  if (type_end == content_type.size() || content_type[type_end] != '/') {
    return invalid_argument("Content-Type must be multipart/form-data");
  }
  const std::size_t subtype_end = token_end(content_type, type_end + 1);
  if (to_lower(content_type.substr(0, subtype_end)) != "multipart/form-data") {
    return invalid_argument("Content-Type must be multipart/form-data");
  }
  std::vector<Parameter> params;
  if (!parse_parameters(content_type.substr(subtype_end), &params)) {
    return invalid_argument("Content-Type has malformed parameters");
  }
  bool duplicate = false;
  const auto* boundary = find_unique(params, "boundary", &duplicate);
  if (boundary == nullptr) return invalid_argument("Content-Type has no boundary parameter");
  if (duplicate) return invalid_argument("Content-Type has two boundary parameters");
  Status s = validate_boundary(boundary->value);
  if (!s) return s;
  return boundary->value;
}

MultipartParser::MultipartParser(std::string boundary, Handler handler, MultipartLimits limits)
    : boundary_("\r\n--" + boundary), handler_(std::move(handler)), limits_(limits) {
  // The first delimiter may open the body without the CRLF that precedes
  // every later one; pretending the body starts with one lets a single
  // search find both.
  buffer_ = "\r\n";
  Status s = validate_boundary(boundary);
  if (!s) (void)fail(std::move(s));
}

Status MultipartParser::fail(Status s) {
  state_ = State::kError;
  error_ = std::move(s);
  buffer_.clear();
  buffer_.shrink_to_fit();
  return error_;
}

bool MultipartParser::done() const { return state_ == State::kEpilogue; }

Status MultipartParser::feed(std::string_view chunk) {
  if (state_ == State::kError) return error_;
  std::size_t consumed = 0;
  if (buffer_.empty()) {
    // Common case: nothing carried over, so the chunk is parsed in place and
    // only its unconsumed tail is copied.
    Status s = process(chunk, &consumed);
    if (!s) return s;
    buffer_.assign(chunk.substr(consumed));
  } else {
    buffer_.append(chunk);
    Status s = process(buffer_, &consumed);
    if (!s) return s;
    buffer_.erase(0, consumed);
  }
  return Status::ok();
}

Status MultipartParser::finish() {
  if (state_ == State::kError) return error_;
  if (state_ != State::kEpilogue) {
    return fail(invalid_argument("multipart body ends before its closing boundary"));
  }
  return Status::ok();
}

Status MultipartParser::begin_part(std::string_view header_block) {
  MultipartPartHeaders headers;
  Status s = parse_part_headers(header_block, &headers);
  if (!s) return s;
  if (handler_.on_part_begin) return handler_.on_part_begin(headers);
  return Status::ok();
}

Status MultipartParser::process(std::string_view data, std::size_t* consumed) {
  const auto malformed = [this](const char* what) {
    return fail(invalid_argument(std::string("multipart body: ") + what));
  };
  std::size_t pos = 0;
  while (true) {
    *consumed = pos;
    switch (state_) {
      case State::kPreamble: {
        const auto at = data.find(boundary_, pos);
        if (at == std::string_view::npos) {
          *consumed = partial_delimiter_start(data, pos, boundary_);
          return Status::ok();
        }
        pos = at + boundary_.size();
        state_ = State::kAfterBoundary;
        break;
      }
      case State::kAfterBoundary: {
        if (pos == data.size()) return Status::ok();
        if (data[pos] == '-') {
          if (pos + 1 == data.size()) return Status::ok();
          if (data[pos + 1] != '-') return malformed("unexpected character after a boundary");
          pos = data.size();
          state_ = State::kEpilogue;
          break;
        }
        state_ = State::kPadding;
        break;
      }
      case State::kPadding: {
        while (pos < data.size() && is_ows(data[pos])) ++pos;
        if (pos == data.size()) {
          *consumed = pos;
          return Status::ok();
        }
        if (data[pos] != '\r') return malformed("unexpected character after a boundary");
        if (pos + 1 == data.size()) {
          *consumed = pos;
          return Status::ok();
        }
        if (data[pos + 1] != '\n') return malformed("unexpected character after a boundary");
        pos += 2;
        if (parts_ == limits_.max_parts) {
          return fail(resource_exhausted("multipart body has more than " +
                                         std::to_string(limits_.max_parts) + " parts"));
        }
        ++parts_;
        header_scanned_ = 0;
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        const auto rest = data.substr(pos);
        std::size_t lines = 0;  // header lines with their CRLFs
        std::size_t block = 0;  // ... plus the empty line ending them
        if (rest.size() < 2) return Status::ok();
        if (rest.substr(0, 2) == "\r\n") {
          block = 2;
        } else {
          const auto end = rest.find("\r\n\r\n", header_scanned_ > 3 ? header_scanned_ - 3 : 0);
          if (end == std::string_view::npos) {
            // A header block ending later would start its final CRLFCRLF at
            // rest.size() - 3 or after, leaving more than the limit in lines.
            if (rest.size() > limits_.max_header_bytes + 1) {
              return fail(resource_exhausted("multipart body: part headers exceed " +
                                             std::to_string(limits_.max_header_bytes) + " bytes"));
            }
            header_scanned_ = rest.size();
            return Status::ok();
          }
          lines = end + 2;
          block = end + 4;
        }
        if (lines > limits_.max_header_bytes) {
          return fail(resource_exhausted("multipart body: part headers exceed " +
                                         std::to_string(limits_.max_header_bytes) + " bytes"));
        }
        Status s = begin_part(rest.substr(0, lines));
        if (!s) return fail(std::move(s));
        pos += block;
        state_ = State::kBody;
        break;
      }
      case State::kBody: {
        const auto at = data.find(boundary_, pos);
        const std::size_t data_end =
            at == std::string_view::npos ? partial_delimiter_start(data, pos, boundary_) : at;
        if (data_end > pos && handler_.on_part_data) {
          Status s = handler_.on_part_data(data.substr(pos, data_end - pos));
          if (!s) return fail(std::move(s));
        }
        if (at == std::string_view::npos) {
          *consumed = data_end;
          return Status::ok();
        }
        if (handler_.on_part_end) {
          Status s = handler_.on_part_end();
          if (!s) return fail(std::move(s));
        }
        pos = at + boundary_.size();
        state_ = State::kAfterBoundary;
        break;
      }
      case State::kEpilogue:
        *consumed = data.size();
        return Status::ok();
      case State::kError:
        return error_;
    }
  }
}

}  // namespace hifi
