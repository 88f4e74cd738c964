// resize_to_jpeg and image_size on images made here with libavcodec: a PNG
// of a colour pattern, and the JPEGs made from it.
extern "C" {
#include <libavcodec/avcodec.h>
}

#include <gtest/gtest.h>

#include <string>

#include "media/ffmpeg_input.h"
#include "media/image_resize.h"

namespace hifi::media {
namespace {

// A width x height RGB24 PNG: a gradient with a diagonal stripe.
std::string make_png(int width, int height) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  EXPECT_NE(codec, nullptr);
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  ctx->width = width;
  ctx->height = height;
  ctx->pix_fmt = AV_PIX_FMT_RGB24;
  ctx->time_base = AVRational{1, 1};
  EXPECT_GE(avcodec_open2(ctx.get(), codec, nullptr), 0);
  FramePtr frame(av_frame_alloc());
  frame->format = AV_PIX_FMT_RGB24;
  frame->width = width;
  frame->height = height;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      auto* p = frame->data[0] + y * frame->linesize[0] + 3 * x;
      p[0] = static_cast<std::uint8_t>(255 * x / width);
      p[1] = static_cast<std::uint8_t>(255 * y / height);
      p[2] = (x + y) % 40 < 20 ? 255 : 0;
    }
  }
  PacketPtr packet(av_packet_alloc());
  EXPECT_GE(avcodec_send_frame(ctx.get(), frame.get()), 0);
  EXPECT_GE(avcodec_send_frame(ctx.get(), nullptr), 0);
  EXPECT_GE(avcodec_receive_packet(ctx.get(), packet.get()), 0);
  return std::string(reinterpret_cast<const char*>(packet->data), static_cast<std::size_t>(packet->size));
}

bool is_jpeg(const std::string& bytes) { return bytes.size() > 3 && bytes.substr(0, 3) == "\xFF\xD8\xFF"; }

TEST(ImageResizeTest, ScalesTheLongerSideDownAndKeepsTheShape) {
  const auto png = make_png(400, 200);
  auto size = image_size(png);
  ASSERT_TRUE(size) << size.status().to_string();
  EXPECT_EQ(size->width, 400);
  EXPECT_EQ(size->height, 200);

  auto wide = resize_to_jpeg(png, 100);
  ASSERT_TRUE(wide) << wide.status().to_string();
  ASSERT_TRUE(wide->has_value());
  EXPECT_TRUE(is_jpeg(**wide));
  auto wide_size = image_size(**wide);
  ASSERT_TRUE(wide_size) << wide_size.status().to_string();
  EXPECT_EQ(wide_size->width, 100);
  EXPECT_EQ(wide_size->height, 50);

  auto tall = resize_to_jpeg(make_png(90, 300), 31);
  ASSERT_TRUE(tall && tall->has_value());
  auto tall_size = image_size(**tall);
  ASSERT_TRUE(tall_size);
  EXPECT_EQ(tall_size->width, 9);
  EXPECT_EQ(tall_size->height, 31);
}

TEST(ImageResizeTest, JpegInputIsResizedToo) {
  auto jpeg = resize_to_jpeg(make_png(320, 320), 160);
  ASSERT_TRUE(jpeg && jpeg->has_value());
  auto smaller = resize_to_jpeg(**jpeg, 40);
  ASSERT_TRUE(smaller && smaller->has_value()) << (smaller ? "" : smaller.status().to_string());
  auto size = image_size(**smaller);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->width, 40);
  EXPECT_EQ(size->height, 40);
}

TEST(ImageResizeTest, NeverScalesUp) {
  const auto png = make_png(64, 48);
  for (int side : {64, 65, 4096}) {
    auto same = resize_to_jpeg(png, side);
    ASSERT_TRUE(same) << same.status().to_string();
    EXPECT_FALSE(same->has_value()) << side;
  }
  auto smaller = resize_to_jpeg(png, 63);
  ASSERT_TRUE(smaller && smaller->has_value());
}

TEST(ImageResizeTest, RefusesWhatIsNotAnImage) {
  EXPECT_EQ(resize_to_jpeg("GIF89a not supported", 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(resize_to_jpeg("", 10).status().code(), Code::kInvalidArgument);
  auto png = make_png(32, 32);
  EXPECT_FALSE(resize_to_jpeg(png.substr(0, 40), 10));  // cut short
  EXPECT_EQ(resize_to_jpeg(png, 0).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hifi::media
