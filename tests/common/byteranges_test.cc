// multipart/byteranges: what format_byteranges writes parses back, parts
// with any header fields and a quoted boundary parse, and every malformed
// body is refused rather than read past its end.
#include "common/byteranges.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hifi {
namespace {

TEST(ByterangesTest, WhatIsFormattedParsesBack) {
  std::vector<BytePart> parts{{0, "fLaC"}, {70000, std::string("\r\n--b\r\n\0x", 9)}, {123456, std::string(5000, 'z')}};
  const auto body = format_byteranges(parts, "hifi-7f3a", "audio/flac", 200000);
  EXPECT_NE(body.find("Content-Range: bytes 70000-70008/200000\r\n"), std::string::npos) << body.substr(0, 300);
  auto parsed = parse_byteranges(byteranges_content_type("hifi-7f3a"), body);
  ASSERT_TRUE(parsed) << parsed.status().to_string();
  ASSERT_EQ(parsed->size(), 3u);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ((*parsed)[i].first, parts[i].first);
    EXPECT_EQ((*parsed)[i].bytes, parts[i].bytes);
    EXPECT_EQ((*parsed)[i].total, 200000u);
  }
  auto none = parse_byteranges("multipart/byteranges; boundary=x", format_byteranges({}, "x", "audio/flac", 9));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(ByterangesTest, OtherHeaderFieldsAndAQuotedBoundaryAreAccepted) {
  const std::string body =
      "--\"q\"\r\n"  // not the boundary: that is q
      "--q\r\ncontent-range: bytes 10-12/*\r\nX-Other: y\r\n\r\nabc\r\n--q--\r\n";
  auto parsed = parse_byteranges("Multipart/Byteranges; charset=x; boundary=\"q\"", body);
  ASSERT_TRUE(parsed) << parsed.status().to_string();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].first, 10u);
  EXPECT_EQ((*parsed)[0].bytes, "abc");
  EXPECT_EQ((*parsed)[0].total, 0u) << "a size that is not known";
}

TEST(ByterangesTest, MalformedBodiesAreRefused) {
  const std::string type = "multipart/byteranges; boundary=b";
  for (const std::string& body : {
           std::string(""),
           std::string("--b"),
           std::string("--b\r\n"),
           std::string("--b\r\nContent-Range: bytes 0-3/10\r\n\r\nab"),                // short
           std::string("--b\r\nContent-Range: bytes 0-1/10\r\n\r\nabcd\r\n--b--\r\n"),  // long
           std::string("--b\r\nContent-Range: bytes 5-1/10\r\n\r\n\r\n--b--\r\n"),      // backwards
           std::string("--b\r\nContent-Range: items 0-1/10\r\n\r\nab\r\n--b--\r\n"),
           std::string("--b\r\nContent-Range: bytes 0-1/ten\r\n\r\nab\r\n--b--\r\n"),
           std::string("--b\r\nContent-Type: x\r\n\r\nab\r\n--b--\r\n"),  // no range
           std::string("--b\r\nno colon\r\n\r\nab\r\n--b--\r\n"),
           std::string("--bX\r\n"),
           std::string("--b\r\nContent-Range: bytes 0-18446744073709551615/1\r\n\r\nab\r\n--b--\r\n"),
       }) {
    auto parsed = parse_byteranges(type, body);
    EXPECT_FALSE(parsed) << body;
    if (!parsed) {
      EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
    }
  }
  EXPECT_FALSE(parse_byteranges("audio/flac", "--b--\r\n"));
  EXPECT_FALSE(parse_byteranges("multipart/byteranges", "--b--\r\n"));
}

}  // namespace
}  // namespace hifi
