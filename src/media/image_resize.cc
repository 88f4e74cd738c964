#include "media/image_resize.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "media/ffmpeg_input.h"

namespace hifi::media {
namespace {

struct SwsFreer {
  void operator()(SwsContext* c) const { sws_freeContext(c); }
};

// The decoder for the image's signature: PNG or JPEG only.
const AVCodec* image_decoder(std::string_view bytes) {
  if (bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return avcodec_find_decoder(AV_CODEC_ID_PNG);
  }
  if (bytes.size() >= 3 && bytes.substr(0, 3) == std::string_view("\xFF\xD8\xFF", 3)) {
    return avcodec_find_decoder(AV_CODEC_ID_MJPEG);
  }
  return nullptr;
}

Result<FramePtr> decode_image(std::string_view bytes) {
  silence_ffmpeg_logs();
  const AVCodec* codec = image_decoder(bytes);
  if (!codec) return invalid_argument("the image is neither a PNG nor a JPEG");
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!ctx || !packet || !frame) return internal_error("out of memory decoding an image");
  ctx->max_pixels = kMaxImagePixels;
  ctx->thread_count = 1;
  if (int rc = avcodec_open2(ctx.get(), codec, nullptr); rc < 0) {
    return internal_error("cannot open the image decoder: " + av_error_text(rc));
  }
  if (int rc = av_new_packet(packet.get(), static_cast<int>(bytes.size())); rc < 0) {
    return internal_error("out of memory decoding an image");
  }
  std::memcpy(packet->data, bytes.data(), bytes.size());
  int rc = avcodec_send_packet(ctx.get(), packet.get());
  if (rc >= 0) rc = avcodec_send_packet(ctx.get(), nullptr);
  if (rc >= 0 || rc == AVERROR_EOF) rc = avcodec_receive_frame(ctx.get(), frame.get());
  if (rc < 0) {
    if (ctx->width > 0 && static_cast<long>(ctx->width) * ctx->height > kMaxImagePixels) {
      return resource_exhausted("the image is larger than " + std::to_string(kMaxImagePixels) + " pixels");
    }
    return invalid_argument("the image cannot be decoded: " + av_error_text(rc));
  }
  if (frame->width <= 0 || frame->height <= 0) return invalid_argument("the image has no pixels");
  return frame;
}

Result<std::string> encode_jpeg(const AVFrame& source, int width, int height) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (!codec) return unsupported("this FFmpeg has no JPEG encoder");
  std::unique_ptr<SwsContext, SwsFreer> sws(
      sws_getContext(source.width, source.height, static_cast<AVPixelFormat>(source.format), width, height,
                     AV_PIX_FMT_YUVJ420P, SWS_LANCZOS | SWS_ACCURATE_RND, nullptr, nullptr, nullptr));
  FramePtr scaled(av_frame_alloc());
  if (!sws || !scaled) return internal_error("cannot scale an image of this pixel format");
  scaled->format = AV_PIX_FMT_YUVJ420P;
  scaled->width = width;
  scaled->height = height;
  if (av_frame_get_buffer(scaled.get(), 0) < 0) return internal_error("out of memory scaling an image");
  sws_scale(sws.get(), source.data, source.linesize, 0, source.height, scaled->data, scaled->linesize);

  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  PacketPtr packet(av_packet_alloc());
  if (!ctx || !packet) return internal_error("out of memory encoding an image");
  ctx->width = width;
  ctx->height = height;
  ctx->pix_fmt = AV_PIX_FMT_YUVJ420P;
  ctx->time_base = AVRational{1, 1};
  ctx->thread_count = 1;
  // A fixed quantiser of 3 (of 2..31): small files with no visible loss.
  ctx->flags |= AV_CODEC_FLAG_QSCALE;
  ctx->global_quality = FF_QP2LAMBDA * 3;
  scaled->quality = ctx->global_quality;
  scaled->pts = 0;
  if (int rc = avcodec_open2(ctx.get(), codec, nullptr); rc < 0) {
    return internal_error("cannot open the JPEG encoder: " + av_error_text(rc));
  }
  int rc = avcodec_send_frame(ctx.get(), scaled.get());
  if (rc >= 0) rc = avcodec_send_frame(ctx.get(), nullptr);
  if (rc >= 0) rc = avcodec_receive_packet(ctx.get(), packet.get());
  if (rc < 0) return internal_error("cannot encode the JPEG: " + av_error_text(rc));
  return std::string(reinterpret_cast<const char*>(packet->data), static_cast<std::size_t>(packet->size));
}

}  // namespace

Result<ImageSize> image_size(std::string_view image_bytes) {
  auto frame = decode_image(image_bytes);
  if (!frame) return frame.status();
  return ImageSize{(*frame)->width, (*frame)->height};
}

Result<std::optional<std::string>> resize_to_jpeg(std::string_view image_bytes, int max_side) {
  if (max_side < 1) return invalid_argument("an image size must be at least 1 pixel");
  auto frame = decode_image(image_bytes);
  if (!frame) return frame.status();
  const int w = (*frame)->width, h = (*frame)->height;
  const int longer = std::max(w, h);
  if (longer <= max_side) return std::optional<std::string>();
  auto scale = [&](int side) {
    return std::max(1, static_cast<int>(std::lround(static_cast<double>(side) * max_side / longer)));
  };
  auto jpeg = encode_jpeg(**frame, w >= h ? max_side : scale(w), h > w ? max_side : scale(h));
  if (!jpeg) return jpeg.status();
  return std::optional<std::string>(std::move(*jpeg));
}

}  // namespace hifi::media
