#include "media/ffmpeg_input.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include <atomic>
#include <cerrno>
#include <mutex>

namespace hifi::media {
namespace {

constexpr const char* kAudioDemuxers =
    "mp3,flac,ogg,wav,w64,mov,aac,aiff,wv,ape,asf,matroska,caf,dsf,tta,mpc,mpc8,au,amr,ac3,"
    "eac3,dts,truehd,mlp";

}  // namespace

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(err, buf, sizeof buf) < 0) return "error " + std::to_string(err);
  return buf;
}

void silence_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

int open_audio_input(const std::string& path, int (*interrupt)(void*), void* opaque,
                     FormatPtr& out) {
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return AVERROR(ENOMEM);
  raw->interrupt_callback.callback = interrupt;
  raw->interrupt_callback.opaque = opaque;
  AVDictionary* options = nullptr;
  av_dict_set(&options, "format_whitelist", kAudioDemuxers, 0);
  av_dict_set(&options, "protocol_whitelist", "file", 0);
  // On failure avformat_open_input frees the context itself.
  int rc = avformat_open_input(&raw, ("file:" + path).c_str(), nullptr, &options);
  av_dict_free(&options);
  if (rc >= 0) out.reset(raw);
  return rc;
}

int interrupt_when_set(void* opaque) {
  return static_cast<const std::atomic<bool>*>(opaque)->load(std::memory_order_relaxed) ? 1 : 0;
}

bool is_read_error(int err) {
  return err == AVERROR(ENOENT) || err == AVERROR(EACCES) || err == AVERROR(EPERM);
}

}  // namespace hifi::media
