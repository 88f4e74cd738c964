// Fuzzes the streaming multipart parser. Input: byte 0 seeds the chunk
// sizes, byte 1 picks the boundary (bits 0-1) and tight limits (bit 2), the
// rest is the body. The body is parsed whole, a byte at a time and in
// pseudo-random chunks; all three must report the same callbacks (with data
// merged, since chunking splits it) and the same status. The whole input is
// also tried as a Content-Type: any boundary multipart_boundary() accepts
// must work with the parser.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/multipart.h"

namespace {

struct Trace {
  std::vector<std::string> events;
  std::string status;
  bool done = false;
  bool operator==(const Trace& o) const {
    return events == o.events && status == o.status && done == o.done;
  }
};

hifi::MultipartParser::Handler recorder(Trace* trace) {
  hifi::MultipartParser::Handler h;
  h.on_part_begin = [trace](const hifi::MultipartPartHeaders& p) {
    trace->events.push_back("B" + p.name + '\0' + p.filename + '\0' + p.content_type);
    // Exercises the callback-error path at a point that does not depend on
    // chunking.
    if (p.name == "stop") return hifi::permission_denied("stopped");
    return hifi::Status::ok();
  };
  h.on_part_data = [trace](std::string_view d) {
    if (d.empty()) std::abort();
    if (trace->events.empty() || trace->events.back()[0] != 'D') trace->events.push_back("D");
    trace->events.back().append(d);
    return hifi::Status::ok();
  };
  h.on_part_end = [trace] {
    trace->events.push_back("E");
    return hifi::Status::ok();
  };
  return h;
}

// mode 0: whole; 1: a byte at a time; otherwise chunk sizes from an LCG.
Trace run(std::string_view body, const std::string& boundary, hifi::MultipartLimits limits,
          std::uint32_t mode) {
  Trace trace;
  hifi::MultipartParser parser(boundary, recorder(&trace), limits);
  hifi::Status s;
  std::uint32_t state = mode;
  std::size_t i = 0;
  while (s.is_ok() && i < body.size()) {
    std::size_t n = body.size();
    if (mode == 1) {
      n = 1;
    } else if (mode != 0) {
      state = state * 1103515245u + 12345u;
      n = 1 + (state >> 16) % (2 * boundary.size() + 8);
    }
    n = std::min(n, body.size() - i);
    s = parser.feed(body.substr(i, n));
    i += n;
  }
  if (s.is_ok()) s = parser.finish();
  // After an error, every call repeats it.
  if (!s.is_ok() && (parser.feed("x").to_string() != s.to_string() ||
                     parser.finish().to_string() != s.to_string())) {
    std::abort();
  }
  trace.status = s.to_string();
  trace.done = parser.done();
  if (trace.done != s.is_ok()) std::abort();
  return trace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto b = hifi::multipart_boundary(input); b.is_ok()) {
    hifi::MultipartParser parser(*b, {});
    if (!parser.feed("--" + *b + "\r\n\r\n\r\n--" + *b + "--").is_ok() ||
        !parser.finish().is_ok()) {
      std::abort();
    }
  }
  if (size < 2) return 0;

  static const std::string kBoundaries[] = {
      "b",
      "XyZ",
      "----WebKitFormBoundary7MA4YWxkTrZu0gW",
      std::string(70, 'z'),
  };
  const std::string& boundary = kBoundaries[data[1] & 3];
  hifi::MultipartLimits limits;
  if (data[1] & 4) {
    limits.max_header_bytes = 32;
    limits.max_parts = 2;
  }
  const std::string_view body = input.substr(2);

  const Trace whole = run(body, boundary, limits, 0);
  if (!(run(body, boundary, limits, 1) == whole)) std::abort();
  if (!(run(body, boundary, limits, 2u + data[0]) == whole)) std::abort();
  return 0;
}
