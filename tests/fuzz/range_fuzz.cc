// Fuzzes parse_range() against representation sizes at the edges of the
// uint64 range, checking that every partial range lies inside its
// representation and that whether a header is ignored never depends on the
// size.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

#include "server/range.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using hifi::RangeRequest;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::uint64_t kSizes[] = {
      0, 1, 2, 10, 100, 4096, std::uint64_t{1} << 32, std::uint64_t{1} << 63, kMax - 1, kMax,
  };
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  const bool whole = hifi::parse_range(header, kSizes[0]).kind == RangeRequest::Kind::kWhole;
  for (std::uint64_t representation : kSizes) {
    const auto r = hifi::parse_range(header, representation);
    if ((r.kind == RangeRequest::Kind::kWhole) != whole) std::abort();
    if (r.kind == RangeRequest::Kind::kPartial) {
      if (representation == 0 || r.range.first > r.range.last || r.range.last >= representation ||
          r.range.length() == 0) {
        std::abort();
      }
    }
  }
  return 0;
}
