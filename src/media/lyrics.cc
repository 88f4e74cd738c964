#include "media/lyrics.h"

extern "C" {
#include <libavutil/dict.h>
}

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

#include "media/ffmpeg_input.h"

namespace hifi::media {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t number(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "mm:ss", "mm:ss.x", "mm:ss.xx", "mm:ss.xxx" (':' also before the
// fraction, as some taggers write) as ms; nullopt for anything else.
std::optional<std::int64_t> stamp_ms(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto minutes = s.substr(0, colon);
  auto rest = s.substr(colon + 1);
  std::string_view fraction;
  if (auto dot = rest.find_first_of(".:"); dot != std::string_view::npos) {
    fraction = rest.substr(dot + 1);
    rest = rest.substr(0, dot);
    if (!all_digits(fraction) || fraction.size() > 3) return std::nullopt;
  }
  if (!all_digits(minutes) || minutes.size() > 4 || !all_digits(rest) || rest.size() > 2) return std::nullopt;
  std::int64_t ms = number(minutes) * 60'000 + number(rest) * 1000;
  if (!fraction.empty()) {
    std::int64_t f = number(fraction);
    for (auto n = fraction.size(); n < 3; ++n) f *= 10;
    ms += f;
  }
  return ms;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "lyrics-eng" -> "eng", "lyrics-Verse-eng" -> "eng"; "xxx" otherwise.
std::string lang_of(std::string_view key) {
  auto dash = key.rfind('-');
  if (dash == std::string_view::npos) return "xxx";
  auto lang = key.substr(dash + 1);
  if (lang.size() < 2 || lang.size() > 3 ||
      !std::all_of(lang.begin(), lang.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); })) {
    return "xxx";
  }
  std::string out(lang);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool lyrics_key(std::string_view key) {
  std::string k(key);
  for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k == "lyrics" || k.starts_with("lyrics-") || k == "unsyncedlyrics";
}

}  // namespace

Lyrics parse_lyrics(std::string_view text, std::string lang) {
  if (text.size() > kMaxLyricsBytes) text = text.substr(0, kMaxLyricsBytes);
  Lyrics out;
  out.lang = std::move(lang);
  std::vector<std::string_view> raw;
  for (std::size_t pos = 0; pos <= text.size();) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    raw.push_back(trim(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  while (!raw.empty() && raw.back().empty()) raw.pop_back();
  while (!raw.empty() && raw.front().empty()) raw.erase(raw.begin());

  std::vector<LyricsLine> timed;
  for (auto line : raw) {
    std::vector<std::int64_t> starts;
    while (line.starts_with('[')) {
      auto close = line.find(']');
      if (close == std::string_view::npos) break;
      const auto tag = line.substr(1, close - 1);
      if (auto ms = stamp_ms(tag)) {
        starts.push_back(*ms);
      } else if (starts.empty() && tag.find(':') != std::string_view::npos && close + 1 == line.size()) {
        // A header tag, "[ar:Artist]"; [offset:+250] shifts every line.
        if (tag.starts_with("offset:")) {
          auto v = trim(tag.substr(7));
          bool negative = v.starts_with('-');
          if (v.starts_with('-') || v.starts_with('+')) v.remove_prefix(1);
          if (all_digits(v) && v.size() <= 9) out.offset_ms = negative ? -number(v) : number(v);
        }
        line = {};
        break;
      } else {
        break;
      }
      line = line.substr(close + 1);
    }
    if (!starts.empty()) {
      for (auto start : starts) {
        if (timed.size() < kMaxLyricsLines) timed.push_back({start, std::string(trim(line))});
      }
    }
  }
  if (!timed.empty()) {
    std::stable_sort(timed.begin(), timed.end(),
                     [](const LyricsLine& a, const LyricsLine& b) { return a.start_ms < b.start_ms; });
    out.synced = true;
    out.lines = std::move(timed);
    return out;
  }
  out.offset_ms = 0;
  for (auto line : raw) {
    if (out.lines.size() >= kMaxLyricsLines) break;
    out.lines.push_back({-1, std::string(line)});
  }
  return out;
}

Result<std::vector<Lyrics>> read_lyrics(const std::string& path) {
  silence_ffmpeg_logs();
  FormatPtr fmt;
  if (int rc = open_audio_input(path, nullptr, nullptr, fmt); rc < 0) {
    return invalid_argument("cannot open the song's file: " + av_error_text(rc));
  }
  std::vector<Lyrics> out;
  std::set<std::string> seen;  // the same text under several keys counts once
  auto collect = [&](const AVDictionary* dict) {
    const AVDictionaryEntry* e = nullptr;
    while ((e = av_dict_get(dict, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
      if (!lyrics_key(e->key) || e->value == nullptr) continue;
      std::string_view value(e->value);
      if (trim(value).empty() || !seen.insert(std::string(value)).second) continue;
      auto lyrics = parse_lyrics(value, lang_of(e->key));
      if (!lyrics.lines.empty()) out.push_back(std::move(lyrics));
    }
  };
  collect(fmt->metadata);
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) collect(fmt->streams[i]->metadata);
  }
  // Synced lyrics first: apps show the first entry.
  std::stable_partition(out.begin(), out.end(), [](const Lyrics& l) { return l.synced; });
  return out;
}

}  // namespace hifi::media
