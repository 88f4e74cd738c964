#include "subsonic/ids.h"

#include <fmt/format.h>

#include <algorithm>

namespace hifi::subsonic {
namespace {

bool lower_hex(std::string_view text, std::size_t size) {
  return text.size() == size && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::optional<ParsedId> parse_id(std::string_view text) {
  if (lower_hex(text, 32)) return ParsedId{IdKind::kSong, std::string(text)};
  if (text.size() == 19 && lower_hex(text.substr(3), 16)) {
    if (text.starts_with("al-")) return ParsedId{IdKind::kAlbum, std::string(text.substr(3))};
    if (text.starts_with("ar-")) return ParsedId{IdKind::kArtist, std::string(text.substr(3))};
  }
  return std::nullopt;
}

Expected<ParsedId> id_param(const Params& params, std::string_view name) {
  auto text = params.required(name);
  if (!text) return text.error();
  auto id = parse_id(*text);
  if (!id) return not_found_error(fmt::format("'{}' is not the id of a song, album or artist", text->substr(0, 64)));
  return *id;
}

Expected<std::string> id_param_of(const Params& params, IdKind kind) {
  auto id = id_param(params);
  if (!id) return id.error();
  if (id->kind == kind) return id->id;
  switch (kind) {
    case IdKind::kSong: return not_found_error("not a song id: song ids are 32 hex digits");
    case IdKind::kAlbum: return not_found_error("not an album id: album ids start with al-");
    case IdKind::kArtist: return not_found_error("not an artist id: artist ids start with ar-");
  }
  return not_found_error("not an id");
}

std::string album_ref(std::string_view album_id) { return "al-" + std::string(album_id); }
std::string artist_ref(std::string_view artist_id) { return "ar-" + std::string(artist_id); }

}  // namespace hifi::subsonic
