// ForwardingMetaStore: a MetaStore that hands every call to another one.
// Tests derive from it to watch or withhold one kind of call (count the
// reads of some keys, hold back a watch) and leave the rest as they are.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/meta_store.h"

namespace hifi::testing {

class ForwardingMetaStore : public MetaStore {
 public:
  explicit ForwardingMetaStore(MetaStore& inner) : inner_(inner) {}
  Result<KeyValue> get(const std::string& key) override { return inner_.get(key); }
  Result<RangeResult> range(const std::string& prefix, std::size_t limit, const std::string& start_after) override {
    return inner_.range(prefix, limit, start_after);
  }
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& ops) override {
    return inner_.txn(compares, ops);
  }
  Result<Revision> current_revision() override { return inner_.current_revision(); }
  Result<std::unique_ptr<WatchHandle>> watch(const std::string& prefix, Revision from_revision,
                                             WatchCallback callback) override {
    return inner_.watch(prefix, from_revision, std::move(callback));
  }
  Result<LeaseId> lease_grant(std::int64_t ttl_seconds) override { return inner_.lease_grant(ttl_seconds); }
  Status lease_keepalive(LeaseId lease) override { return inner_.lease_keepalive(lease); }
  Status lease_revoke(LeaseId lease) override { return inner_.lease_revoke(lease); }
  std::string describe() const override { return inner_.describe(); }

 protected:
  MetaStore& inner_;
};

}  // namespace hifi::testing
