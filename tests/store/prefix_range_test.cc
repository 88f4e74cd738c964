// prefix_range_end: the upper end both MetaStore backends use for prefixes.
#include <gtest/gtest.h>

#include <string>

#include "store/meta_store.h"

namespace hifi {
namespace {

TEST(PrefixRangeEndTest, IncrementsTheLastByte) {
  EXPECT_EQ(prefix_range_end("songs/"), "songs0");
  EXPECT_EQ(prefix_range_end("a"), "b");
  EXPECT_EQ(prefix_range_end(std::string("a\0", 2)), std::string("a\x01", 2));
}

TEST(PrefixRangeEndTest, DropsTrailingFFBytes) {
  EXPECT_EQ(prefix_range_end("a\xff"), "b");
  EXPECT_EQ(prefix_range_end("ab\xff\xff"), "ac");
  EXPECT_EQ(prefix_range_end("a\xfe"), "a\xff");
}

TEST(PrefixRangeEndTest, NoEndForEmptyOrAllFF) {
  EXPECT_EQ(prefix_range_end(""), std::nullopt);
  EXPECT_EQ(prefix_range_end("\xff"), std::nullopt);
  EXPECT_EQ(prefix_range_end("\xff\xff\xff"), std::nullopt);
}

TEST(PrefixRangeEndTest, BoundsExactlyTheKeysWithThePrefix) {
  const std::string prefix = "rooms/\xff";
  const auto end = prefix_range_end(prefix);
  ASSERT_TRUE(end.has_value());
  for (std::string key : {std::string("rooms/\xff"), std::string("rooms/\xff\xff\xff"),
                          std::string("rooms/\xff" "abc")}) {
    EXPECT_TRUE(key >= prefix && key < *end) << key;
  }
  for (std::string key : {std::string("rooms/\xfe"), std::string("rooms0"), std::string("rooms/")}) {
    EXPECT_FALSE(key >= prefix && key < *end) << key;
  }
}

}  // namespace
}  // namespace hifi
