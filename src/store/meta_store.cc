#include "store/meta_store.h"

namespace hifi {

Result<Revision> MetaStore::put(const std::string& key, const std::string& value, LeaseId lease) {
  auto r = txn({}, {Op::put(key, value, lease)});
  if (!r) return r.status();
  return r->revision;
}

std::optional<std::string> prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

Result<Revision> MetaStore::del(const std::string& key) {
  auto r = txn({}, {Op::del(key)});
  if (!r) return r.status();
  return r->revision;
}

}  // namespace hifi
