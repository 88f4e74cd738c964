// JSON object records in the MetaStore: reading their fields leniently, and
// changing one record by compare-and-swap.
//
// The library's per-user records (annotations, playlists, play queues,
// bookmarks, shares) are small JSON objects, each under one key, changed by
// read-modify-write. update_json_record() retries the change when another
// writer (another request, another node) changed the record in between, so
// concurrent increments and edits are never lost.
//
// Thread-safety: free functions; thread-safe when the store is.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/meta_store.h"

namespace hifi {

// Fields of a parsed record; a missing field or one of another type reads
// as empty, 0 or false.
std::string json_text(const boost::json::object& o, std::string_view name);
std::int64_t json_int(const boost::json::object& o, std::string_view name);
bool json_bool(const boost::json::object& o, std::string_view name);
std::vector<std::string> json_strings(const boost::json::object& o, std::string_view name);
boost::json::array json_array_of(const std::vector<std::string>& items);

// The object a stored value holds; nullopt when it is not a JSON object.
std::optional<boost::json::object> parse_record(std::string_view value);

// What a change makes of a record: the new value, or nullopt to delete it.
// Returning an error leaves the record as it is and ends the update.
using RecordChange =
    std::function<Result<std::optional<boost::json::object>>(const std::optional<boost::json::object>& current)>;

struct RecordUpdate {
  bool written = false;                      // false: the record was absent and stays so
  Revision revision = 0;                     // of the write (the store's, if nothing was written)
  std::optional<boost::json::object> value;  // the record as written
};

// Reads `key` (nullopt when absent or unreadable), applies `change` and
// writes the result if the record did not change meanwhile; otherwise reads
// and tries again (up to 16 times, then kUnavailable). Changes of one key
// through this process take turns, so only another node's write makes one
// retry, after a short random pause (cas_retry.h). `change` must not call
// update_json_record. `also` are written in the same transaction (e.g. a
// history entry beside a play count).
Result<RecordUpdate> update_json_record(MetaStore& store, const std::string& key, const RecordChange& change,
                                        const std::vector<Op>& also = {});

}  // namespace hifi
