// Fuzzes parse_sha256_digest_header(). Beyond not crashing: a parsed digest
// must survive format/parse, and appending another well-formed member to an
// accepted header must neither break it nor change its sha-256.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/digest_header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto r = hifi::parse_sha256_digest_header(input);
  if (!r) {
    if (r.status().code() != hifi::Code::kInvalidArgument) std::abort();
    return 0;
  }
  if (*r) {
    const auto again = hifi::parse_sha256_digest_header(hifi::format_sha256_digest_header(**r));
    if (!again || *again != *r) std::abort();
  }
  if (input.find_first_not_of(' ') != std::string_view::npos && size + 16 <= 8 * 1024) {
    const auto extended = hifi::parse_sha256_digest_header(std::string(input) + ", x=1;p=?0");
    if (!extended || *extended != *r) std::abort();
  }
  return 0;
}
