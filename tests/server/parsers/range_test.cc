#include "server/range.h"

#include <gtest/gtest.h>

#include <limits>

namespace hifi {
namespace {

using Kind = RangeRequest::Kind;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

void expect_partial(std::string_view header, std::uint64_t size, std::uint64_t first,
                    std::uint64_t last) {
  SCOPED_TRACE(std::string(header));
  const auto r = parse_range(header, size);
  ASSERT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.range.first, first);
  EXPECT_EQ(r.range.last, last);
  EXPECT_EQ(r.range.length(), last - first + 1);
}

void expect_kind(std::string_view header, std::uint64_t size, Kind kind) {
  SCOPED_TRACE(std::string(header));
  EXPECT_EQ(parse_range(header, size).kind, kind);
}

TEST(RangeTest, FirstAndLast) {
  expect_partial("bytes=0-0", 100, 0, 0);
  expect_partial("bytes=0-99", 100, 0, 99);
  expect_partial("bytes=10-19", 100, 10, 19);
  expect_partial("bytes=99-99", 100, 99, 99);
}

TEST(RangeTest, OpenEnded) {
  expect_partial("bytes=0-", 100, 0, 99);
  expect_partial("bytes=42-", 100, 42, 99);
  expect_partial("bytes=99-", 100, 99, 99);
}

TEST(RangeTest, Suffix) {
  expect_partial("bytes=-1", 100, 99, 99);
  expect_partial("bytes=-10", 100, 90, 99);
  expect_partial("bytes=-100", 100, 0, 99);
  expect_partial("bytes=-1000", 100, 0, 99);
}

TEST(RangeTest, LastIsClampedToSize) {
  expect_partial("bytes=10-1000", 100, 10, 99);
  expect_partial("bytes=0-18446744073709551615", 100, 0, 99);
  expect_partial("bytes=0-99999999999999999999999999999", 100, 0, 99);
  expect_partial("bytes=-99999999999999999999999999999", 100, 0, 99);
}

TEST(RangeTest, LeadingZerosAreDigits) {
  expect_partial("bytes=007-0010", 100, 7, 10);
  expect_partial("bytes=0000000000000000000000000001-2", 100, 1, 2);
}

TEST(RangeTest, Unsatisfiable) {
  expect_kind("bytes=100-", 100, Kind::kUnsatisfiable);
  expect_kind("bytes=100-200", 100, Kind::kUnsatisfiable);
  expect_kind("bytes=-0", 100, Kind::kUnsatisfiable);
  expect_kind("bytes=-000", 100, Kind::kUnsatisfiable);
  expect_kind("bytes=18446744073709551616-", 100, Kind::kUnsatisfiable);
  expect_kind("bytes=99999999999999999999999999-99999999999999999999999999", 100,
              Kind::kUnsatisfiable);
}

TEST(RangeTest, EmptyRepresentationSatisfiesNothing) {
  expect_kind("bytes=0-", 0, Kind::kUnsatisfiable);
  expect_kind("bytes=0-0", 0, Kind::kUnsatisfiable);
  expect_kind("bytes=-1", 0, Kind::kUnsatisfiable);
  expect_kind("bytes=-0", 0, Kind::kUnsatisfiable);
}

TEST(RangeTest, HugeRepresentation) {
  expect_partial("bytes=-1", kMax, kMax - 1, kMax - 1);
  expect_partial("bytes=0-", kMax, 0, kMax - 1);
  expect_partial("bytes=18446744073709551613-", kMax, kMax - 2, kMax - 1);
  expect_partial("bytes=18446744073709551614-", kMax, kMax - 1, kMax - 1);
  expect_kind("bytes=18446744073709551615-", kMax, Kind::kUnsatisfiable);
}

TEST(RangeTest, IgnoredHeadersMeanWhole) {
  for (std::string_view h : {
           "",
           "bytes",
           "bytes=",
           "bytes=-",
           "bytes=,",
           "bytes=abc",
           "bytes=1",
           "bytes=a-b",
           "bytes=1-a",
           "bytes=5-4",  // last before first is invalid, not unsatisfiable
           "bytes=20-10",
           "bytes=100000000000000000001-100000000000000000000",
           "bytes=+1-2",
           "bytes=1-+2",
           "bytes=-+2",
           "bytes=--1",
           "bytes=1--2",
           "bytes=1-2-3",
           "bytes=1 -2",
           "bytes=1- 2",
           "bytes=- 2",
           "bytes=0x10-20",
           "bytes=1.5-2",
           "bytes =0-1",
           "items=0-1",
           "bits=0-1",
           "=0-1",
           "bytes=0-1,2-3",  // multiple ranges are not served
           "bytes=0-1, -5",
           "bytes=0-1,abc",
       }) {
    expect_kind(h, 100, Kind::kWhole);
  }
}

TEST(RangeTest, WhitespaceAroundIsOptional) {
  expect_partial(" bytes=1-2 ", 100, 1, 2);
  expect_partial("\tbytes= 1-2\t", 100, 1, 2);
}

TEST(RangeTest, UnitIsCaseInsensitive) {
  expect_partial("Bytes=1-2", 100, 1, 2);
  expect_partial("BYTES=-3", 100, 97, 99);
}

TEST(RangeTest, EmptyListElementsAreTolerated) {
  expect_partial("bytes=1-2,", 100, 1, 2);
  expect_partial("bytes=, 1-2 ,,", 100, 1, 2);
}

}  // namespace
}  // namespace hifi
