#include "server/song_lookup.h"

#include <algorithm>

namespace hifi {
namespace {

// Song ids are the first 32 hex digits of a SHA-256; anything else is not
// worth a store read.
bool plausible_song_id(const std::string& id) {
  return id.size() == 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Result<Song> find_song(const Catalog& catalog, MetaStore& store, const std::string& id) {
  auto song = catalog.get(id);
  if (song || song.status().code() != Code::kNotFound || !plausible_song_id(id)) return song;
  auto kv = store.get("songs/" + id);
  if (!kv) return kv.status().code() == Code::kNotFound ? song.status() : kv.status();
  Song stored;
  if (!song_from_json(kv->value, stored)) return internal_error("corrupt song record " + id);
  return stored;
}

}  // namespace hifi
