#include "store/meta_store.h"

namespace hifi {

Result<Revision> MetaStore::put(const std::string& key, const std::string& value, LeaseId lease) {
  auto r = txn({}, {Op::put(key, value, lease)});
  if (!r) return r.status();
  return r->revision;
}

Result<Revision> MetaStore::del(const std::string& key) {
  auto r = txn({}, {Op::del(key)});
  if (!r) return r.status();
  return r->revision;
}

}  // namespace hifi
