// Songs by id as the metadata store has them, for requests that may name a
// song this node's catalog view has not caught up with yet: an upload on
// another node is acknowledged once it is in the store, and a user may at
// once add it to a room or open its link through this node.
#pragma once

#include <string>

#include "common/status.h"
#include "library/catalog.h"
#include "store/meta_store.h"

namespace hifi {

// The catalog's song; when the catalog does not know the id (yet), the
// song record read from the store (one read; it may block on the network).
// kNotFound when neither has it.
Result<Song> find_song(const Catalog& catalog, MetaStore& store, const std::string& id);

}  // namespace hifi
