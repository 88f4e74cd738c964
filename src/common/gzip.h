// gzip (RFC 1952) compression of a buffer in memory, with zlib.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi {

// The gzip stream of `data` at the best compression; kInternal if zlib fails.
Result<std::string> gzip_compress(std::string_view data);

// Whether an Accept-Encoding header value accepts gzip: the gzip (or x-gzip,
// or *) coding listed without q=0. RFC 9110, section 12.5.3.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace hifi
