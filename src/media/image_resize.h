// Cover images made smaller for apps that ask for a size (Subsonic
// getCoverArt?size=): an embedded JPEG or PNG decoded with libavcodec,
// scaled with libswscale and encoded as JPEG.
//
// Untrusted input: only the PNG and JPEG decoders are used, and images of
// more than kMaxImagePixels are refused before they are decoded in full.
//
// Thread-safety: every function is reentrant. CPU work: call from a worker.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hifi::media {

inline constexpr long kMaxImagePixels = 64L * 1024 * 1024;

struct ImageSize {
  int width = 0;
  int height = 0;
};

// The size of a PNG or JPEG image, decoded; kInvalidArgument for anything
// else or a broken image, kResourceExhausted past kMaxImagePixels.
Result<ImageSize> image_size(std::string_view image_bytes);

// The image scaled so that its longer side is max_side pixels (the other
// in proportion, at least 1), as a good quality JPEG. nullopt when the image
// is no larger than that already: it is never scaled up. Errors as image_size.
Result<std::optional<std::string>> resize_to_jpeg(std::string_view image_bytes, int max_side);

}  // namespace hifi::media
