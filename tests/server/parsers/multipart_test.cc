#include "server/multipart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace hifi {
namespace {

constexpr char kBoundary[] = "----hifiBoundary7MA4YWxkTrZu0gW";

// Everything a parse produced: callbacks in order (consecutive data merged,
// since chunking legitimately splits it) and the first error, if any.
struct Outcome {
  std::vector<std::string> events;
  Status status;
  bool done = false;

  bool operator==(const Outcome& o) const {
    return events == o.events && status.code() == o.status.code() &&
           status.message() == o.status.message() && done == o.done;
  }
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  for (const auto& e : o.events) os << "[" << e << "] ";
  return os << "status=" << o.status.to_string() << " done=" << o.done;
}

MultipartParser::Handler recorder(Outcome* out) {
  MultipartParser::Handler h;
  h.on_part_begin = [out](const MultipartPartHeaders& p) {
    out->events.push_back("begin name=" + p.name + " filename=" + p.filename +
                          " type=" + p.content_type);
    return Status::ok();
  };
  h.on_part_data = [out](std::string_view data) {
    EXPECT_FALSE(data.empty());
    if (out->events.empty() || out->events.back().rfind("data:", 0) != 0) {
      out->events.push_back("data:");
    }
    out->events.back().append(data);
    return Status::ok();
  };
  h.on_part_end = [out] {
    out->events.push_back("end");
    return Status::ok();
  };
  return h;
}

// Feeds body in the given chunk sizes (cycled), then calls finish().
Outcome parse_chunked(std::string_view body, const std::vector<std::size_t>& sizes,
                      MultipartLimits limits = {}, std::string boundary = kBoundary) {
  Outcome out;
  MultipartParser parser(std::move(boundary), recorder(&out), limits);
  std::size_t i = 0;
  std::size_t k = 0;
  while (out.status.is_ok() && i < body.size()) {
    const std::size_t n = std::min(sizes[k++ % sizes.size()], body.size() - i);
    out.status = parser.feed(body.substr(i, n));
    i += n;
  }
  if (out.status.is_ok()) out.status = parser.finish();
  out.done = parser.done();
  return out;
}

Outcome parse_whole(std::string_view body, MultipartLimits limits = {},
                    std::string boundary = kBoundary) {
  return parse_chunked(body, {std::max<std::size_t>(body.size(), 1)}, limits, boundary);
}

// Parses body whole, byte by byte and in random chunks, insists all three
// agree, and returns the outcome.
Outcome parse_all_ways(std::string_view body, MultipartLimits limits = {},
                       std::string boundary = kBoundary) {
  const Outcome whole = parse_whole(body, limits, boundary);
  EXPECT_EQ(parse_chunked(body, {1}, limits, boundary), whole) << "byte by byte";
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::size_t> sizes;
    std::uniform_int_distribution<std::size_t> dist(1, 2 * std::string(kBoundary).size());
    for (int j = 0; j < 16; ++j) sizes.push_back(dist(rng));
    EXPECT_EQ(parse_chunked(body, sizes, limits, boundary), whole) << "round " << round;
  }
  return whole;
}

std::string part(std::string_view headers, std::string_view data) {
  std::string out = "--" + std::string(kBoundary) + "\r\n";
  if (!headers.empty()) out += std::string(headers) + "\r\n";
  return out + "\r\n" + std::string(data) + "\r\n";
}
std::string close() { return "--" + std::string(kBoundary) + "--\r\n"; }

TEST(MultipartBoundaryTest, Token) {
  auto b = multipart_boundary("multipart/form-data; boundary=abc123");
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(*b, "abc123");
}

TEST(MultipartBoundaryTest, QuotedWithEscapesAndSpaces) {
  auto b = multipart_boundary("multipart/form-data; boundary=\"a b\\:c\"");
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(*b, "a b:c");
}

TEST(MultipartBoundaryTest, CaseInsensitiveTypeAndParameterName) {
  auto b = multipart_boundary("  Multipart/Form-Data;charset=utf-8 ;  BOUNDARY=XyZ ; ");
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(*b, "XyZ");
}

TEST(MultipartBoundaryTest, Rejects) {
  for (std::string_view ct : {
           "",
           "multipart/form-data",
           "multipart/form-data; charset=utf-8",
           "multipart/mixed; boundary=abc",
           "text/plain; boundary=abc",
           "multipart/form-data-x; boundary=abc",
           "multipart / form-data; boundary=abc",
           "multipart/form-data boundary=abc",
           "multipart/form-data; boundary=",
           "multipart/form-data; boundary=\"\"",
           "multipart/form-data; boundary = abc",
           "multipart/form-data; boundary=a; boundary=b",
           "multipart/form-data; boundary=\"abc",
           "multipart/form-data; boundary=\"abc \"",
           "multipart/form-data; boundary=ab!c",
           "multipart/form-data; boundary=\"a\rb\"",
           "multipart/form-data; boundary=abc; junk",
       }) {
    auto b = multipart_boundary(ct);
    EXPECT_FALSE(b.is_ok()) << ct;
    if (!b) {
      EXPECT_EQ(b.status().code(), Code::kInvalidArgument) << ct;
    }
  }
}

TEST(MultipartBoundaryTest, LengthLimit) {
  const std::string b70(70, 'b');
  EXPECT_TRUE(multipart_boundary("multipart/form-data; boundary=" + b70).is_ok());
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + b70 + "b").is_ok());
}

TEST(MultipartParserTest, TwoParts) {
  const std::string body =
      part("Content-Disposition: form-data; name=\"title\"", "Hello") +
      part(
          "Content-Disposition: form-data; name=\"file\"; filename=\"a.flac\"\r\n"
          "Content-Type: audio/flac",
          std::string("fLaC\0\r\n\r\x01", 9)) +
      close();
  const auto out = parse_all_ways(body);
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_TRUE(out.done);
  const std::vector<std::string> expected = {
      "begin name=title filename= type=",
      "data:Hello",
      "end",
      "begin name=file filename=a.flac type=audio/flac",
      "data:" + std::string("fLaC\0\r\n\r\x01", 9),
      "end",
  };
  EXPECT_EQ(out.events, expected);
}

TEST(MultipartParserTest, PreambleEpilogueAndLeadingCrlf) {
  const std::string body = "This is a preamble.\r\n" +
                           part("Content-Disposition: form-data; name=a", "1") + close() +
                           "epilogue --" + kBoundary + "\r\n garbage";
  const auto out = parse_all_ways(body);
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events,
            (std::vector<std::string>{"begin name=a filename= type=", "data:1", "end"}));
  const auto with_crlf = parse_all_ways("\r\n" + part("", "x") + close());
  EXPECT_EQ(with_crlf.events,
            (std::vector<std::string>{"begin name= filename= type=", "data:x", "end"}));
}

TEST(MultipartParserTest, TransportPadding) {
  const std::string b = kBoundary;
  const std::string body =
      "--" + b + " \t \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--" + b + "--  \r\n";
  const auto out = parse_all_ways(body);
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events,
            (std::vector<std::string>{"begin name=a filename= type=", "data:1", "end"}));
}

TEST(MultipartParserTest, CloseWithoutTrailingCrlf) {
  const std::string body = part("", "x") + "--" + kBoundary + "--";
  const auto out = parse_all_ways(body);
  EXPECT_TRUE(out.status.is_ok()) << out;
  EXPECT_TRUE(out.done);
}

TEST(MultipartParserTest, EmptyPartAndNoParts) {
  const auto out = parse_all_ways(part("Content-Disposition: form-data; name=e", "") + close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events, (std::vector<std::string>{"begin name=e filename= type=", "end"}));
  const auto none = parse_all_ways(close());
  EXPECT_TRUE(none.status.is_ok()) << none;
  EXPECT_TRUE(none.events.empty());
}

TEST(MultipartParserTest, BoundaryLikeDataIsData) {
  const std::string b = kBoundary;
  const std::string tricky = "x--" + b + " not at line start\r\n--" + b.substr(0, b.size() - 1) +
                             "\r\n-" + b + "\r\n\r--" + b + "\n--" + b + "\r\r\n-" + "\r\n--" +
                             b.substr(0, 5) + "\r\n\r\n\r";
  const auto out = parse_all_ways(part("", tricky) + close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events,
            (std::vector<std::string>{"begin name= filename= type=", "data:" + tricky, "end"}));
}

TEST(MultipartParserTest, DataEndingInCrIsKept) {
  const auto out = parse_all_ways(part("", "abc\r") + close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events[1], "data:abc\r");
}

TEST(MultipartParserTest, MissingClosingBoundaryFailsFinish) {
  for (const std::string& body : {
           std::string(),
           std::string("just a preamble"),
           part("", "x"),
           part("", "x").substr(0, 20),
           part("", "x") + "--" + kBoundary,
           part("", "x") + "--" + kBoundary + "-",
           part("", "x") + "--" + kBoundary + "\r\n",
           part("", "x") + "--" + kBoundary + "\r\nContent-Type: a",
       }) {
    const auto out = parse_all_ways(body);
    EXPECT_EQ(out.status.code(), Code::kInvalidArgument) << body;
    EXPECT_FALSE(out.done);
  }
}

TEST(MultipartParserTest, StreamsLargePartsWithBoundedBuffering) {
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 1000) big[i] = '\r';
  std::size_t pieces = 0;
  std::size_t bytes = 0;
  MultipartParser::Handler h;
  h.on_part_data = [&](std::string_view d) {
    ++pieces;
    bytes += d.size();
    return Status::ok();
  };
  MultipartParser parser(kBoundary, h);
  const std::string body = part("", big) + close();
  for (std::size_t i = 0; i < body.size(); i += 4096) {
    const std::size_t before = bytes;
    ASSERT_TRUE(parser.feed(std::string_view(body).substr(i, 4096)).is_ok());
    // Everything but a possible partial delimiter is handed out at once.
    if (i > 100 && i + 4096 < big.size()) {
      EXPECT_GE(bytes - before + std::string(kBoundary).size() + 4, 4096u);
    }
  }
  ASSERT_TRUE(parser.finish().is_ok());
  EXPECT_EQ(bytes, big.size());
  EXPECT_GT(pieces, 200u);
}

TEST(MultipartParserTest, TooManyParts) {
  std::string body;
  for (int i = 0; i < 4; ++i) body += part("", "x");
  body += close();
  MultipartLimits limits;
  limits.max_parts = 4;
  EXPECT_TRUE(parse_all_ways(body, limits).status.is_ok());
  limits.max_parts = 3;
  const auto out = parse_all_ways(body, limits);
  EXPECT_EQ(out.status.code(), Code::kResourceExhausted) << out;
  EXPECT_EQ(std::count(out.events.begin(), out.events.end(), "end"), 3);
}

TEST(MultipartParserTest, OversizedHeaders) {
  MultipartLimits limits;
  limits.max_header_bytes = 64;
  const std::string line = "X-Pad: " + std::string(64 - 7 - 2, 'p');  // 64 bytes with CRLF
  ASSERT_EQ(line.size() + 2, 64u);
  EXPECT_TRUE(parse_all_ways(part(line, "x") + close(), limits).status.is_ok());
  const auto out = parse_all_ways(part(line + "q", "x") + close(), limits);
  EXPECT_EQ(out.status.code(), Code::kResourceExhausted) << out;
  // A header block that never ends is cut off, not buffered.
  const auto endless =
      parse_all_ways("--" + std::string(kBoundary) + "\r\nX: " + std::string(10000, 'a'), limits);
  EXPECT_EQ(endless.status.code(), Code::kResourceExhausted) << endless;
  EXPECT_TRUE(endless.events.empty());
}

TEST(MultipartParserTest, HeaderNamesAreCaseInsensitive) {
  const auto out = parse_all_ways(part("content-DISPOSITION: Form-Data; NAME=\"n\"; "
                                       "FileName=\"f.mp3\"\r\nCONTENT-TYPE:audio/mpeg ",
                                       "d") +
                                  close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events[0], "begin name=n filename=f.mp3 type=audio/mpeg");
}

TEST(MultipartParserTest, QuotedStringEscapesAndUtf8) {
  const auto out = parse_all_ways(part("Content-Disposition: form-data; name=\"a\\\"b\"; "
                                       "filename=\"Bj\xc3\xb6rk \\\\ \\x.flac\"",
                                       "") +
                                  close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events[0], "begin name=a\"b filename=Bj\xc3\xb6rk \\ x.flac type=");
}

TEST(MultipartParserTest, ExtendedFilenameIsPreferred) {
  const auto out = parse_all_ways(part("Content-Disposition: form-data; name=file; "
                                       "filename*=UTF-8''Bj%C3%B6rk%20%e2%82%ac.flac; "
                                       "filename=\"Bjork.flac\"",
                                       "") +
                                  close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events[0], "begin name=file filename=Bj\xc3\xb6rk \xe2\x82\xac.flac type=");

  const auto latin1 = parse_all_ways(
      part("Content-Disposition: form-data; filename*=iso-8859-1'en'%E9t%E9.txt", "") + close());
  ASSERT_TRUE(latin1.status.is_ok()) << latin1;
  EXPECT_EQ(latin1.events[0], "begin name= filename=\xc3\xa9t\xc3\xa9.txt type=");

  // An unknown charset is ignored in favour of the plain parameter.
  const auto unknown = parse_all_ways(
      part("Content-Disposition: form-data; filename*=koi8-r''%C1; filename=plain.txt", "") +
      close());
  ASSERT_TRUE(unknown.status.is_ok()) << unknown;
  EXPECT_EQ(unknown.events[0], "begin name= filename=plain.txt type=");
}

TEST(MultipartParserTest, FoldedHeaderIsUnfolded) {
  const auto out =
      parse_all_ways(part("Content-Disposition: form-data;\r\n\tname=\"folded\"", "") + close());
  ASSERT_TRUE(out.status.is_ok()) << out;
  EXPECT_EQ(out.events[0], "begin name=folded filename= type=");
}

TEST(MultipartParserTest, MalformedInput) {
  const std::string b = kBoundary;
  for (const std::string& body : {
           "--" + b + "x\r\n\r\n\r\n" + close(),
           "--" + b + "-x\r\n\r\n\r\n" + close(),
           "--" + b + " -\r\n\r\n\r\n" + close(),
           "--" + b + "\n\r\n\r\n" + close(),
           "--" + b + "\rX\r\n\r\n" + close(),
           part("no colon", "") + close(),
           part(": empty name", "") + close(),
           part("Bad Name: x", "") + close(),
           part("Name : x", "") + close(),
           part(" leading fold: x", "") + close(),
           part("X: bare\nLF", "") + close(),
           part("X: bare\rCR", "") + close(),
           part(std::string("X: nul\0here", 11), "") + close(),
           part("Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b",
                "") +
               close(),
           part("Content-Type: a\r\nContent-Type: b", "") + close(),
           part("Content-Disposition: form-data; name=a; name=b", "") + close(),
           part("Content-Disposition: form-data; filename=a; filename=b", "") + close(),
           part("Content-Disposition: form-data; name=\"unterminated", "") + close(),
           part("Content-Disposition: form-data; name", "") + close(),
           part("Content-Disposition: form-data; name=", "") + close(),
           part("Content-Disposition: form-data name=a", "") + close(),
           part("Content-Disposition: ; name=a", "") + close(),
           part("Content-Disposition: form-data; name=a b", "") + close(),
           part("Content-Disposition: form-data; filename*=UTF-8''%zz", "") + close(),
           part("Content-Disposition: form-data; filename*=UTF-8''%4", "") + close(),
           part("Content-Disposition: form-data; filename*=UTF-8'x", "") + close(),
           part("Content-Disposition: form-data; filename*=\"UTF-8''a\"", "") + close(),
           part("Content-Disposition: form-data; filename*=UTF-8''%C3", "") + close(),
           part("Content-Disposition: form-data; filename*=UTF-8''a%0Ab", "") + close(),
           part("Content-Disposition: form-data; filename=\"\xff\xfe\"", "") + close(),
           part("Content-Disposition: form-data; filename=\"a\\\x01\"", "") + close(),
       }) {
    const auto out = parse_all_ways(body);
    EXPECT_EQ(out.status.code(), Code::kInvalidArgument) << body << " -> " << out;
  }
}

TEST(MultipartParserTest, InvalidBoundaryFailsEveryCall) {
  for (std::string bad :
       {std::string(), std::string(71, 'b'), std::string("a\r\nb"), std::string("trailing ")}) {
    MultipartParser parser(bad, {});
    EXPECT_EQ(parser.feed("--" + bad + "--").code(), Code::kInvalidArgument);
    EXPECT_EQ(parser.finish().code(), Code::kInvalidArgument);
    EXPECT_FALSE(parser.done());
  }
}

TEST(MultipartParserTest, CallbackErrorStopsParsingAndSticks) {
  int begins = 0;
  MultipartParser::Handler h;
  h.on_part_begin = [&](const MultipartPartHeaders& p) {
    ++begins;
    if (p.name == "stop") return permission_denied("no");
    return Status::ok();
  };
  MultipartParser parser(kBoundary, h);
  const std::string body = part("Content-Disposition: form-data; name=ok", "1") +
                           part("Content-Disposition: form-data; name=stop", "2") +
                           part("Content-Disposition: form-data; name=later", "3") + close();
  const Status s = parser.feed(body);
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_EQ(begins, 2);
  EXPECT_EQ(parser.feed("more").code(), Code::kPermissionDenied);
  EXPECT_EQ(parser.finish().code(), Code::kPermissionDenied);
}

TEST(MultipartParserTest, DataCallbackErrorStops) {
  MultipartParser::Handler h;
  h.on_part_data = [](std::string_view) { return resource_exhausted("too big"); };
  MultipartParser parser(kBoundary, h);
  EXPECT_EQ(parser.feed(part("", "data") + close()).code(), Code::kResourceExhausted);
}

TEST(MultipartParserTest, OneByteAtATimeEqualsWholeForRandomBodies) {
  // Bodies assembled from fragments that exercise every state transition.
  const std::string b = kBoundary;
  const std::vector<std::string> fragments = {
      "--" + b,
      "\r\n",
      "--",
      " ",
      "\t",
      "\r",
      "\n",
      "x",
      "-",
      "Content-Disposition: form-data; name=\"n\"; filename*=UTF-8''%41",
      "Content-Type: text/plain",
      "\r\n--" + b.substr(0, 10),
      std::string(1, '\0'),
      "\xc3\xa9",
  };
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::string body;
    const int n = std::uniform_int_distribution<int>(1, 40)(rng);
    for (int i = 0; i < n; ++i) {
      body += fragments[std::uniform_int_distribution<std::size_t>(0, fragments.size() - 1)(rng)];
    }
    MultipartLimits limits;
    limits.max_header_bytes = 40;
    limits.max_parts = 3;
    parse_all_ways(body, limits);
  }
}

}  // namespace
}  // namespace hifi
