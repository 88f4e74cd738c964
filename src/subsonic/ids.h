// Subsonic ids of HiFi's things: opaque strings to apps, stable and the same
// on every node because they are the catalog's own ids, which derive from a
// song's bytes and tags:
//   song    "<song id>"        32 hex digits, as in /api/v1/songs
//   album   "al-<album id>"    16 hex digits
//   artist  "ar-<artist id>"   16 hex digits
// A cover art id is the id of what the cover belongs to (a song with a
// cover, an album or an artist). The one music folder has id 1.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "subsonic/error.h"
#include "subsonic/params.h"

namespace hifi::subsonic {

enum class IdKind { kSong, kAlbum, kArtist };

struct ParsedId {
  IdKind kind;
  std::string id;  // the catalog's id
};

inline constexpr int kMusicFolderId = 1;

// nullopt for anything that is not one of the forms above.
std::optional<ParsedId> parse_id(std::string_view text);
// The id in parameter `name`: error 10 when missing, 70 when not an id.
Expected<ParsedId> id_param(const Params& params, std::string_view name = "id");
// The catalog id in parameter "id", which must name a `kind`: also error 70
// for an id of another kind.
Expected<std::string> id_param_of(const Params& params, IdKind kind);
std::string album_ref(std::string_view album_id);
std::string artist_ref(std::string_view artist_id);

}  // namespace hifi::subsonic
