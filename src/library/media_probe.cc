#include "library/media_probe.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/mathematics.h>
}

#include <sys/stat.h>
#include <taglib/aifffile.h>
#include <taglib/apefile.h>
#include <taglib/asffile.h>
#include <taglib/attachedpictureframe.h>
#include <taglib/flacfile.h>
#include <taglib/flacpicture.h>
#include <taglib/id3v2tag.h>
#include <taglib/mp4file.h>
#include <taglib/mpcfile.h>
#include <taglib/mpegfile.h>
#include <taglib/oggflacfile.h>
#include <taglib/opusfile.h>
#include <taglib/speexfile.h>
#include <taglib/tdebuglistener.h>
#include <taglib/tpropertymap.h>
#include <taglib/trueaudiofile.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>
#include <taglib/wavpackfile.h>
#include <taglib/xiphcomment.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>

#include "common/text.h"
#include "media/decoder.h"
#include "media/ffmpeg_input.h"

namespace hifi {
namespace {

using namespace media;

// Probing must stay cheap and bounded whatever the input: these limits cap
// the work spent looking for a first decodable audio frame.
constexpr int kMaxPackets = 500;
constexpr std::int64_t kMaxAudioBytes = 4 << 20;
// A stuck demuxer (pathological input) is interrupted after this long.
constexpr auto kProbeDeadline = std::chrono::seconds(20);
constexpr std::size_t kMaxCoverBytes = 16 << 20;
// Tags are shown in lists and indexed for search; longer values are noise or
// abuse, so they are cut (at a UTF-8 boundary).
constexpr std::size_t kMaxTagBytes = 1024;


class SilentTagLibListener : public TagLib::DebugListener {
 public:
  void printMessage(const TagLib::String&) override {}
};

// Both libraries log malformed input to stderr by default; for a server
// probing untrusted uploads that is noise, and our Status says what failed.
void quiet_libraries() {
  media::silence_ffmpeg_logs();
  static std::once_flag once;
  std::call_once(once, [] {
    static SilentTagLibListener listener;
    TagLib::setDebugListener(&listener);
  });
}


struct Deadline {
  std::chrono::steady_clock::time_point at;
};

int interrupt_if_late(void* opaque) {
  return std::chrono::steady_clock::now() > static_cast<Deadline*>(opaque)->at ? 1 : 0;
}

Status not_audio(int err) {
  if (err == AVERROR_EXIT) return unsupported("not an audio file: probing timed out");
  // What avformat_open_input reports for a container outside the audio demuxers.
  if (err == AVERROR(EINVAL)) return unsupported("not an audio file: unsupported container");
  // Demuxers report a header cut short as EOF or EIO.
  if (err == AVERROR_EOF || err == AVERROR(EIO)) {
    return unsupported("not an audio file: truncated or corrupt header");
  }
  return unsupported("not an audio file: " + av_error_text(err));
}


std::string content_type_for(std::string_view format, AVCodecID codec) {
  struct Entry {
    const char* format;
    const char* type;
  };
  static constexpr Entry kTypes[] = {
      {"mp3", "audio/mpeg"},
      {"flac", "audio/flac"},
      {"ogg", "audio/ogg"},
      {"wav", "audio/wav"},
      {"w64", "audio/x-w64"},
      {"aac", "audio/aac"},
      {"aiff", "audio/aiff"},
      {"wv", "audio/x-wavpack"},
      {"ape", "audio/x-ape"},
      {"asf", "audio/x-ms-wma"},
      {"caf", "audio/x-caf"},
      {"dsf", "audio/x-dsf"},
      {"tta", "audio/x-tta"},
      {"mpc", "audio/x-musepack"},
      {"mpc8", "audio/x-musepack"},
      {"au", "audio/basic"},
      {"amr", "audio/amr"},
      {"ac3", "audio/ac3"},
      {"eac3", "audio/eac3"},
      {"dts", "audio/vnd.dts"},
      {"truehd", "audio/vnd.dolby.mlp"},
      {"mlp", "audio/vnd.dolby.mlp"},
  };
  // FFmpeg names the ISO-BMFF demuxer "mov,mp4,m4a,3gp,3g2,mj2" and the
  // Matroska one "matroska,webm".
  if (format.starts_with("mov,")) return "audio/mp4";
  if (format.starts_with("matroska")) {
    return codec == AV_CODEC_ID_OPUS || codec == AV_CODEC_ID_VORBIS ? "audio/webm"
                                                                    : "audio/x-matroska";
  }
  for (const Entry& e : kTypes) {
    if (format == e.format) return e.type;
  }
  return "application/octet-stream";
}

// Reads packets of the chosen stream until one decodes to audio samples.
// A bad packet is not fatal: streams often start mid-frame.
Status decode_first_frame(AVFormatContext* fmt, int stream_index, const AVCodec* codec,
                          MediaInfo& info) {
  StreamDecoder decoder;
  StreamDecoderOptions options;
  options.bitexact = false;
  options.max_packets = kMaxPackets;
  options.max_audio_bytes = kMaxAudioBytes;
  if (Status s = decoder.open(fmt, stream_index, codec, options); !s) {
    return s.code() == Code::kInternal ? internal_error("out of memory while probing") : s;
  }
  for (;;) {
    StreamDecoder::Step step = decoder.next();
    if (step == StreamDecoder::Step::kFrame) {
      info.sample_rate = decoder.frame()->sample_rate;
      info.channels = decoder.frame()->ch_layout.nb_channels;
      return Status::ok();
    }
    if (step == StreamDecoder::Step::kEnd) break;
    // What the demuxer cannot read ends the input; the codec may still
    // hold a frame.
    if (step == StreamDecoder::Step::kReadError) decoder.end_input();
  }
  std::string reason = "could not decode any audio";
  if (decoder.last_error() == AVERROR_EXIT) {
    reason += ": probing timed out";
  } else if (decoder.last_error() != 0) {
    reason += ": " + av_error_text(decoder.last_error());
  }
  return unsupported(reason);
}

// Keeps a display string: valid UTF-8, no control characters, trimmed, bounded.
std::string clean_text(std::string s) {
  // Nothing after a NUL is meant to be shown (C-string framing in tags).
  if (auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  if (!is_valid_utf8(s)) return {};
  // No terminal escapes or forged log lines from a file's tags.
  s = without_control_chars(s);
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string::npos) return {};
  auto last = s.find_last_not_of(kSpace);
  s = s.substr(first, last - first + 1);
  if (s.size() > kMaxTagBytes) {
    std::size_t cut = kMaxTagBytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s.resize(cut);
  }
  return s;
}

std::string clean_text(const TagLib::String& s) { return clean_text(s.to8Bit(true)); }

// "N" or "N/M" -> N; 0 when absent or malformed.
int parse_index(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  int value = 0;
  std::size_t i = 0;
  for (; i < s.size() && i < 6 && s[i] >= '0' && s[i] <= '9'; ++i) {
    value = value * 10 + (s[i] - '0');
  }
  if (i == 0) return 0;
  if (i < s.size() && s[i] != '/' && s[i] != ' ') return 0;
  return value;
}

int bounded(unsigned value, unsigned max) { return value <= max ? static_cast<int>(value) : 0; }

// Image type from the leading bytes. The tag's own MIME string is not
// trusted: the cover is served back to browsers under this type.
std::string sniff_image_type(std::string_view bytes) {
  auto starts = [&](std::string_view magic) { return bytes.starts_with(magic); };
  if (starts("\xFF\xD8\xFF")) return "image/jpeg";
  if (starts("\x89PNG\r\n\x1A\n")) return "image/png";
  if (starts("GIF87a") || starts("GIF89a")) return "image/gif";
  if (bytes.size() >= 12 && starts("RIFF") && bytes.substr(8, 4) == "WEBP") return "image/webp";
  if (starts("BM")) return "image/bmp";
  return {};
}

// Collects candidate pictures and keeps the best: a front cover over any
// other picture type, the first of equals.
class CoverPicker {
 public:
  void offer(const char* data, std::size_t size, bool front) {
    if (size == 0 || size > kMaxCoverBytes || (has_ && (front_ || !front))) return;
    std::string_view bytes(data, size);
    std::string mime = sniff_image_type(bytes);
    if (mime.empty()) return;
    bytes_.assign(bytes);
    mime_ = std::move(mime);
    front_ = front;
    has_ = true;
  }
  void offer(const TagLib::ByteVector& v, bool front) { offer(v.data(), v.size(), front); }

  bool has() const { return has_; }
  void move_to(MediaInfo& info) {
    if (!has_) return;
    info.cover_bytes = std::move(bytes_);
    info.cover_mime = std::move(mime_);
  }

 private:
  bool has_ = false;
  bool front_ = false;
  std::string bytes_;
  std::string mime_;
};

void offer_id3v2(const TagLib::ID3v2::Tag* tag, CoverPicker& picker) {
  if (tag == nullptr) return;
  for (const TagLib::ID3v2::Frame* f : tag->frameList("APIC")) {
    auto* pic = dynamic_cast<const TagLib::ID3v2::AttachedPictureFrame*>(f);
    if (pic == nullptr) continue;
    picker.offer(pic->picture(), pic->type() == TagLib::ID3v2::AttachedPictureFrame::FrontCover);
  }
}

void offer_xiph(TagLib::Ogg::XiphComment* comment, CoverPicker& picker) {
  if (comment == nullptr) return;
  for (const TagLib::FLAC::Picture* pic : comment->pictureList()) {
    picker.offer(pic->data(), pic->type() == TagLib::FLAC::Picture::FrontCover);
  }
}

void read_cover(TagLib::File* file, CoverPicker& picker) {
  if (auto* mpeg = dynamic_cast<TagLib::MPEG::File*>(file)) {
    offer_id3v2(mpeg->ID3v2Tag(), picker);
  } else if (auto* flac = dynamic_cast<TagLib::FLAC::File*>(file)) {
    for (const TagLib::FLAC::Picture* pic : flac->pictureList()) {
      picker.offer(pic->data(), pic->type() == TagLib::FLAC::Picture::FrontCover);
    }
    offer_xiph(flac->xiphComment(), picker);
  } else if (auto* ogg = dynamic_cast<TagLib::Ogg::File*>(file)) {
    offer_xiph(dynamic_cast<TagLib::Ogg::XiphComment*>(ogg->tag()), picker);
  } else if (auto* mp4 = dynamic_cast<TagLib::MP4::File*>(file)) {
    TagLib::MP4::Tag* tag = mp4->tag();
    if (tag != nullptr && tag->contains("covr")) {
      // MP4 has no picture types; the first cover is the front one.
      for (const TagLib::MP4::CoverArt& art : tag->item("covr").toCoverArtList()) {
        picker.offer(art.data(), true);
      }
    }
  } else if (auto* wav = dynamic_cast<TagLib::RIFF::WAV::File*>(file)) {
    offer_id3v2(wav->ID3v2Tag(), picker);
  } else if (auto* aiff = dynamic_cast<TagLib::RIFF::AIFF::File*>(file)) {
    offer_id3v2(aiff->tag(), picker);
  } else if (auto* asf = dynamic_cast<TagLib::ASF::File*>(file)) {
    if (TagLib::ASF::Tag* tag = asf->tag()) {
      for (const TagLib::ASF::Attribute& attr : tag->attribute("WM/Picture")) {
        TagLib::ASF::Picture pic = attr.toPicture();
        if (pic.isValid())
          picker.offer(pic.picture(), pic.type() == TagLib::ASF::Picture::FrontCover);
      }
    }
  }
}

// TagLib picks its parser from the file name, but uploads are probed under a
// temporary name; FFmpeg has already identified the container, so use that.
std::unique_ptr<TagLib::File> open_tag_file(const std::string& path, std::string_view format,
                                            AVCodecID codec) {
  const char* name = path.c_str();
  if (format == "mp3") return std::make_unique<TagLib::MPEG::File>(name, false);
  if (format == "flac") return std::make_unique<TagLib::FLAC::File>(name, false);
  if (format == "ogg") {
    switch (codec) {
      case AV_CODEC_ID_VORBIS:
        return std::make_unique<TagLib::Ogg::Vorbis::File>(name, false);
      case AV_CODEC_ID_OPUS:
        return std::make_unique<TagLib::Ogg::Opus::File>(name, false);
      case AV_CODEC_ID_FLAC:
        return std::make_unique<TagLib::Ogg::FLAC::File>(name, false);
      case AV_CODEC_ID_SPEEX:
        return std::make_unique<TagLib::Ogg::Speex::File>(name, false);
      default:
        return nullptr;
    }
  }
  if (format.starts_with("mov,")) return std::make_unique<TagLib::MP4::File>(name, false);
  if (format == "wav") return std::make_unique<TagLib::RIFF::WAV::File>(name, false);
  if (format == "aiff") return std::make_unique<TagLib::RIFF::AIFF::File>(name, false);
  if (format == "wv") return std::make_unique<TagLib::WavPack::File>(name, false);
  if (format == "ape") return std::make_unique<TagLib::APE::File>(name, false);
  if (format == "asf") return std::make_unique<TagLib::ASF::File>(name, false);
  if (format == "mpc" || format == "mpc8") return std::make_unique<TagLib::MPC::File>(name, false);
  if (format == "tta") return std::make_unique<TagLib::TrueAudio::File>(name, false);
  return nullptr;
}

std::string first_property(const TagLib::PropertyMap& props, const char* key) {
  auto it = props.find(key);
  if (it == props.end() || it->second.isEmpty()) return {};
  return clean_text(it->second.front());
}

void read_tags(const std::string& path, std::string_view format, AVCodecID codec, MediaInfo& info,
               CoverPicker& picker) {
  std::unique_ptr<TagLib::File> file = open_tag_file(path, format, codec);
  if (!file || !file->isValid()) return;
  if (const TagLib::Tag* tag = file->tag()) {
    info.title = clean_text(tag->title());
    info.artist = clean_text(tag->artist());
    info.album = clean_text(tag->album());
    info.genre = clean_text(tag->genre());
    info.year = bounded(tag->year(), 9999);
    info.track = bounded(tag->track(), 99999);
  }
  const TagLib::PropertyMap props = file->properties();
  info.album_artist = first_property(props, "ALBUMARTIST");
  info.disc = parse_index(first_property(props, "DISCNUMBER"));
  if (info.track == 0) info.track = parse_index(first_property(props, "TRACKNUMBER"));
  read_cover(file.get(), picker);
}

// FFmpeg reads tags of containers TagLib does not handle (ADTS AAC with ID3,
// Matroska, ...); used only for fields TagLib left empty.
void fill_from_ffmpeg(const AVFormatContext* fmt, const AVStream* stream, MediaInfo& info) {
  auto get = [&](const char* key) -> std::string {
    for (const AVDictionary* dict : {fmt->metadata, stream->metadata}) {
      if (const AVDictionaryEntry* e = av_dict_get(dict, key, nullptr, 0)) {
        std::string value = clean_text(std::string(e->value));
        if (!value.empty()) return value;
      }
    }
    return {};
  };
  if (info.title.empty()) info.title = get("title");
  if (info.artist.empty()) info.artist = get("artist");
  if (info.album.empty()) info.album = get("album");
  if (info.album_artist.empty()) info.album_artist = get("album_artist");
  if (info.genre.empty()) info.genre = get("genre");
  if (info.year == 0) {
    std::string date = get("date");
    // Dates come as "2021", "2021-05-01" or "2021-05-01T...".
    if (date.size() >= 4) info.year = parse_index(std::string_view(date).substr(0, 4));
  }
  if (info.track == 0) info.track = parse_index(get("track"));
  if (info.disc == 0) info.disc = parse_index(get("disc"));
}

std::int64_t duration_ms(const AVFormatContext* fmt, const AVStream* stream) {
  std::int64_t ms = 0;
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    ms = av_rescale(fmt->duration, 1000, AV_TIME_BASE);
  } else if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0 &&
             stream->time_base.num > 0 && stream->time_base.den > 0) {
    ms = av_rescale_q(stream->duration, stream->time_base, AVRational{1, 1000});
  }
  return ms > 0 ? ms : 0;
}

}  // namespace

Result<MediaInfo> probe_media(const std::string& path) {
  quiet_libraries();

  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return io_error("cannot read " + path + ": " + std::generic_category().message(errno));
  }
  if (!S_ISREG(st.st_mode)) return unsupported("not a regular file");
  if (st.st_size == 0) return unsupported("not an audio file: the file is empty");

  Deadline deadline{std::chrono::steady_clock::now() + kProbeDeadline};
  FormatPtr fmt;
  int rc = open_audio_input(path, &interrupt_if_late, &deadline, fmt);
  if (rc == AVERROR(ENOMEM)) return internal_error("out of memory while probing");
  if (rc < 0) {
    if (is_read_error(rc)) return io_error("cannot read " + path + ": " + av_error_text(rc));
    return not_audio(rc);
  }

  rc = avformat_find_stream_info(fmt.get(), nullptr);
  if (rc < 0) return not_audio(rc);

  const AVCodec* decoder = nullptr;
  int index = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
  if (index == AVERROR_STREAM_NOT_FOUND) return unsupported("no audio stream");
  if (index < 0 || decoder == nullptr) {
    AVCodecID id = AV_CODEC_ID_NONE;
    if (index >= 0) {
      id = fmt->streams[index]->codecpar->codec_id;
    } else {
      for (unsigned i = 0; i < fmt->nb_streams; ++i) {
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
          id = fmt->streams[i]->codecpar->codec_id;
          break;
        }
      }
    }
    if (id == AV_CODEC_ID_NONE) return unsupported("no decoder for an unknown audio codec");
    return unsupported(std::string("no decoder for codec ") + avcodec_get_name(id));
  }
  AVStream* stream = fmt->streams[index];
  // Only the chosen stream is demuxed (this also skips attached pictures,
  // which FFmpeg would otherwise return as the first packets).
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != index) fmt->streams[i]->discard = AVDISCARD_ALL;
  }

  MediaInfo info;
  info.format = fmt->iformat->name;
  info.codec = avcodec_get_name(stream->codecpar->codec_id);
  info.content_type = content_type_for(info.format, stream->codecpar->codec_id);
  info.duration_ms = duration_ms(fmt.get(), stream);
  info.bitrate = fmt->bit_rate > 0 ? fmt->bit_rate : stream->codecpar->bit_rate;
  if (info.bitrate < 0) info.bitrate = 0;

  if (Status s = decode_first_frame(fmt.get(), index, decoder, info); !s) return s;
  if (info.sample_rate <= 0) info.sample_rate = std::max(stream->codecpar->sample_rate, 0);
  if (info.channels <= 0) info.channels = std::max(stream->codecpar->ch_layout.nb_channels, 0);

  CoverPicker picker;
  read_tags(path, info.format, stream->codecpar->codec_id, info, picker);
  fill_from_ffmpeg(fmt.get(), stream, info);
  // Attached pictures FFmpeg found, for containers TagLib has no cover for.
  for (unsigned i = 0; i < fmt->nb_streams && !picker.has(); ++i) {
    const AVStream* s = fmt->streams[i];
    if ((s->disposition & AV_DISPOSITION_ATTACHED_PIC) && s->attached_pic.size > 0) {
      picker.offer(reinterpret_cast<const char*>(s->attached_pic.data),
                   static_cast<std::size_t>(s->attached_pic.size), true);
    }
  }
  picker.move_to(info);
  return info;
}

}  // namespace hifi
