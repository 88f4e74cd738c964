// base64_encode, base64url_encode and base64_decode.
#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace hifi {
namespace {

TEST(Base64Test, KnownValues) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\xff\xfe\xfd"), "//79");
}

TEST(Base64Test, UrlSafeAlphabetWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("\xff\xfe\xfd"), "__79");
  EXPECT_EQ(base64url_encode("\xfb\xef"), "--8");
}

TEST(Base64Test, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data += static_cast<char>(i * 7 + 3);
    auto decoded = base64_decode(base64_encode(data));
    ASSERT_TRUE(decoded.is_ok()) << i << ": " << decoded.status().to_string();
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base64Test, RejectsMalformed) {
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!", "Zm9", "Zm9v\n",
                               "Zm-_", "Z=g=", "Zm 9v", "Zg==="}) {
    auto r = base64_decode(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  auto empty = base64_decode("");
  ASSERT_TRUE(empty.is_ok());
  EXPECT_EQ(*empty, "");
}

}  // namespace
}  // namespace hifi
