// The MetaStore conformance suite: every test here runs against every
// backend instantiated with INSTANTIATE_TEST_SUITE_P(..., MetaStoreConformance,
// ...) in this binary (SQLite in sqlite_meta_store_test.cc, etcd in
// etcd_meta_store_test.cc). Written against the MetaStore interface only.
#include "store/meta_store_conformance.h"

namespace hifi::store_test {

TEST_P(MetaStoreConformance, GetAbsentKeyIsNotFound) {
  auto r = store().get("missing");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_P(MetaStoreConformance, PutSetsRevisionsAndVersion) {
  const Revision r0 = current();
  Revision r1 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r1, store().put("a", "1"));
  EXPECT_EQ(r1, r0 + 1);
  EXPECT_EQ(current(), r1);

  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get("a"));
  EXPECT_EQ(kv.key, "a");
  EXPECT_EQ(kv.value, "1");
  EXPECT_EQ(kv.create_revision, r1);
  EXPECT_EQ(kv.mod_revision, r1);
  EXPECT_EQ(kv.version, 1);
  EXPECT_EQ(kv.lease, 0);

  Revision r2 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r2, store().put("a", "2"));
  EXPECT_EQ(r2, r1 + 1);
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get("a"));
  EXPECT_EQ(kv.value, "2");
  EXPECT_EQ(kv.create_revision, r1);
  EXPECT_EQ(kv.mod_revision, r2);
  EXPECT_EQ(kv.version, 2);

  // Writing the same value again is still a modification.
  Revision r3 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r3, store().put("a", "2"));
  EXPECT_EQ(r3, r2 + 1);
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get("a"));
  EXPECT_EQ(kv.version, 3);
}

TEST_P(MetaStoreConformance, ValuesAreArbitraryBytes) {
  const std::string binary("\0\x01\xff\xfe zero\0end", 14);
  HIFI_ASSERT_OK(store().put("bin", binary));
  HIFI_ASSERT_OK(store().put("empty", ""));
  EXPECT_EQ(value_of("bin"), binary);
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get("empty"));
  EXPECT_EQ(kv.value, "");
  EXPECT_EQ(kv.version, 1);
}

TEST_P(MetaStoreConformance, PutWithEmptyKeyIsInvalid) {
  auto r = store().put("", "v");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_P(MetaStoreConformance, DeleteRemovesKeyAndBumpsRevision) {
  Revision created = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(created, store().put("k", "v"));
  Revision deleted = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(deleted, store().del("k"));
  EXPECT_EQ(deleted, created + 1);
  EXPECT_EQ(current(), deleted);
  EXPECT_EQ(store().get("k").status().code(), Code::kNotFound);
}

TEST_P(MetaStoreConformance, DeleteOfAbsentKeyDoesNotBumpRevision) {
  HIFI_ASSERT_OK(store().put("other", "v"));
  const Revision before = current();
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().del("missing"));
  EXPECT_EQ(r, before);
  EXPECT_EQ(current(), before);
}

TEST_P(MetaStoreConformance, RecreatedKeyStartsANewLife) {
  HIFI_ASSERT_OK(store().put("k", "1"));
  HIFI_ASSERT_OK(store().put("k", "2"));
  HIFI_ASSERT_OK(store().del("k"));
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().put("k", "3"));
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get("k"));
  EXPECT_EQ(kv.create_revision, r);
  EXPECT_EQ(kv.mod_revision, r);
  EXPECT_EQ(kv.version, 1);
}

// --- range -------------------------------------------------------------------

TEST_P(MetaStoreConformance, RangeReturnsExactlyThePrefixSorted) {
  for (const char* key : {"app/b", "b", "app/a/x", "apple", "ap", "app/a"}) {
    HIFI_ASSERT_OK(store().put(key, std::string("v:") + key));
  }
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("app/"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"app/a", "app/a/x", "app/b"}));
  EXPECT_FALSE(r.more);
  EXPECT_EQ(r.revision, current());
  ASSERT_EQ(r.kvs.size(), 3u);
  EXPECT_EQ(r.kvs[0].value, "v:app/a");
  EXPECT_EQ(r.kvs[0].version, 1);
  EXPECT_GT(r.kvs[0].mod_revision, 0);

  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("app"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"app/a", "app/a/x", "app/b", "apple"}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range(""));
  EXPECT_EQ(keys_of(r.kvs),
            (std::vector<std::string>{"ap", "app/a", "app/a/x", "app/b", "apple", "b"}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("zz"));
  EXPECT_TRUE(r.kvs.empty());
  EXPECT_FALSE(r.more);
}

TEST_P(MetaStoreConformance, RangePagesWithLimitAndStartAfter) {
  std::vector<std::string> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back("p/0" + std::to_string(i));
    HIFI_ASSERT_OK(store().put(all.back(), "v"));
  }
  HIFI_ASSERT_OK(store().put("q", "outside"));

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    RangeResult page;
    HIFI_ASSERT_OK_AND_ASSIGN(page, store().range("p/", 3, cursor));
    ++pages;
    ASSERT_LE(page.kvs.size(), 3u);
    for (const auto& kv : page.kvs) seen.push_back(kv.key);
    if (!page.more) break;
    ASSERT_EQ(page.kvs.size(), 3u);
    cursor = page.kvs.back().key;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen, all);
  EXPECT_EQ(pages, 4);

  // A limit equal to what is left is not "more".
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("p/", 2, "p/07"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"p/08", "p/09"}));
  EXPECT_FALSE(r.more);
  // start_after before the prefix does not widen the range.
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("p/", 1, "a"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"p/00"}));
  EXPECT_TRUE(r.more);
  // start_after past the prefix yields nothing.
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("p/", 0, "p/09"));
  EXPECT_TRUE(r.kvs.empty());
}

TEST_P(MetaStoreConformance, RangeHandlesBinaryKeysBytewise) {
  using S = std::string;
  const std::vector<std::string> keys = {
      S("\x00", 1),      S("\x00\x01", 2), "a", "a\x7f", "a\x80",    "a\xff",
      S("a\xff\x00", 3), "a\xff\xff",      "b", "\xff",  "\xff\xfe", "\xff\xff"};
  // Insert in reverse so sorting is the store's work.
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) HIFI_ASSERT_OK(store().put(*it, "v"));

  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range(""));
  EXPECT_EQ(keys_of(r.kvs), keys) << "all keys, unsigned byte order";
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("a"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"a", "a\x7f", "a\x80", "a\xff",
                                                      S("a\xff\x00", 3), "a\xff\xff"}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("a\xff"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"a\xff", S("a\xff\x00", 3), "a\xff\xff"}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("\xff"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"\xff", "\xff\xfe", "\xff\xff"}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("\xff\xff"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"\xff\xff"}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range(S("\x00", 1)));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{S("\x00", 1), S("\x00\x01", 2)}));
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range("a", 0, "a\x80"));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"a\xff", S("a\xff\x00", 3), "a\xff\xff"}));
  EXPECT_EQ(value_of(S("a\xff\x00", 3)), "v");
}

// --- txn -----------------------------------------------------------------------

TEST_P(MetaStoreConformance, TxnCompareAndSwapOnModRevision) {
  Revision r1 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r1, store().put("k", "v1"));

  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({Compare::mod_revision_equals("k", r1)}, {Op::put("k", "v2")}));
  EXPECT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, r1 + 1);
  EXPECT_EQ(value_of("k"), "v2");

  // A stale revision loses: not an error, nothing applied, revision unchanged.
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({Compare::mod_revision_equals("k", r1)}, {Op::put("k", "v3")}));
  EXPECT_FALSE(t.succeeded);
  EXPECT_EQ(t.revision, r1 + 1);
  EXPECT_EQ(current(), r1 + 1);
  EXPECT_EQ(value_of("k"), "v2");
}

TEST_P(MetaStoreConformance, TxnModRevisionZeroMeansAbsent) {
  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({Compare::mod_revision_equals("new", 0)}, {Op::put("new", "first")}));
  EXPECT_TRUE(t.succeeded);
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({Compare::mod_revision_equals("new", 0)}, {Op::put("new", "second")}));
  EXPECT_FALSE(t.succeeded);
  EXPECT_EQ(value_of("new"), "first");
}

TEST_P(MetaStoreConformance, TxnExistsAndAbsent) {
  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({Compare::exists("x")}, {Op::put("y", "1")}));
  EXPECT_FALSE(t.succeeded);
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({Compare::absent("x")}, {Op::put("x", "1")}));
  EXPECT_TRUE(t.succeeded);
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({Compare::absent("x")}, {Op::put("x", "2")}));
  EXPECT_FALSE(t.succeeded);
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({Compare::exists("x")}, {Op::put("y", "1")}));
  EXPECT_TRUE(t.succeeded);
  // All compares must hold.
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({Compare::exists("x"), Compare::exists("nope")}, {Op::put("z", "1")}));
  EXPECT_FALSE(t.succeeded);
  EXPECT_EQ(store().get("z").status().code(), Code::kNotFound);
  EXPECT_EQ(value_of("x"), "1");
  EXPECT_EQ(value_of("y"), "1");
}

TEST_P(MetaStoreConformance, TxnAppliesAllOpsAtOneRevision) {
  HIFI_ASSERT_OK(store().put("c", "old"));
  const Revision before = current();
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, rec.callback()));

  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({}, {Op::put("d", "4"), Op::put("a", "1"), Op::del("c"), Op::put("b", "2")}));
  ASSERT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before + 1);
  for (const char* key : {"a", "b", "d"}) {
    KeyValue kv;
    HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get(key));
    EXPECT_EQ(kv.mod_revision, t.revision) << key;
  }
  EXPECT_EQ(store().get("c").status().code(), Code::kNotFound);

  // A failed compare applies none of the ops.
  HIFI_ASSERT_OK_AND_ASSIGN(t,
                            store().txn({Compare::exists("c")}, {Op::put("e", "5"), Op::del("a")}));
  EXPECT_FALSE(t.succeeded);
  EXPECT_EQ(store().get("e").status().code(), Code::kNotFound);
  EXPECT_EQ(value_of("a"), "1");

  ASSERT_TRUE(rec.wait_for_revision(before + 1));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].revision, before + 1);
  EXPECT_EQ(keys_of(responses[0]), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(responses[0].events[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(rec.violations(), "");
}

TEST_P(MetaStoreConformance, TxnLaterOpOnSameKeyWins) {
  HIFI_ASSERT_OK(store().put("gone", "x"));
  const Revision before = current();
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, rec.callback()));

  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(
      t, store().txn({}, {Op::put("k", "1"), Op::put("k", "2"), Op::put("tmp", "t"), Op::del("tmp"),
                          Op::del("gone"), Op::put("gone", "back")}));
  ASSERT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before + 1);
  EXPECT_EQ(value_of("k"), "2");
  EXPECT_EQ(store().get("tmp").status().code(), Code::kNotFound);
  EXPECT_EQ(value_of("gone"), "back");

  ASSERT_TRUE(rec.wait_for_revision(before + 1));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 1u);
  // One event per key, carrying its final state; "tmp" never existed outside.
  ASSERT_EQ(keys_of(responses[0]), (std::vector<std::string>{"gone", "k"}));
  EXPECT_EQ(responses[0].events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(responses[0].events[0].kv.value, "back");
  EXPECT_EQ(responses[0].events[1].kv.value, "2");
}

TEST_P(MetaStoreConformance, TxnWithoutEffectDoesNotBumpRevision) {
  HIFI_ASSERT_OK(store().put("k", "v"));
  const Revision before = current();
  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({}, {}));
  EXPECT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before);
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({Compare::exists("k")}, {Op::del("missing")}));
  EXPECT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before);
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({}, {Op::del_prefix("nothing/")}));
  EXPECT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before);
  EXPECT_EQ(current(), before);
}

TEST_P(MetaStoreConformance, TxnDeletePrefix) {
  for (const char* key : {"dir/a", "dir/b", "dir/sub/c", "dir2", "other"}) {
    HIFI_ASSERT_OK(store().put(key, "v"));
  }
  const Revision before = current();
  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({}, {Op::put("dir/new", "n"), Op::del_prefix("dir/"),
                                                Op::put("dir/after", "a")}));
  ASSERT_TRUE(t.succeeded);
  EXPECT_EQ(t.revision, before + 1);
  RangeResult r;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().range(""));
  EXPECT_EQ(keys_of(r.kvs), (std::vector<std::string>{"dir/after", "dir2", "other"}));
}

TEST_P(MetaStoreConformance, FailedTxnOnUnknownLeaseChangesNothing) {
  const Revision before = current();
  auto r = store().put("k", "v", 987654321);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);

  auto t = store().txn({}, {Op::put("a", "1"), Op::put("b", "2", 987654321)});
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), Code::kNotFound);
  EXPECT_EQ(store().get("a").status().code(), Code::kNotFound);
  EXPECT_EQ(store().get("k").status().code(), Code::kNotFound);
  EXPECT_EQ(current(), before);
}

// --- watch ----------------------------------------------------------------------

TEST_P(MetaStoreConformance, WatchFromZeroSeesOnlyLaterChanges) {
  HIFI_ASSERT_OK(store().put("before", "x"));
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, rec.callback()));
  Revision r1 = 0, r2 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r1, store().put("b", "1"));
  HIFI_ASSERT_OK_AND_ASSIGN(r2, store().del("before"));
  ASSERT_TRUE(rec.wait_for_revision(r2));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].revision, r1);
  ASSERT_EQ(responses[0].events.size(), 1u);
  const WatchEvent& put = responses[0].events[0];
  EXPECT_EQ(put.type, WatchEvent::Type::kPut);
  EXPECT_EQ(put.kv.key, "b");
  EXPECT_EQ(put.kv.value, "1");
  EXPECT_EQ(put.kv.create_revision, r1);
  EXPECT_EQ(put.kv.mod_revision, r1);
  EXPECT_EQ(put.kv.version, 1);

  EXPECT_EQ(responses[1].revision, r2);
  ASSERT_EQ(responses[1].events.size(), 1u);
  const WatchEvent& del = responses[1].events[0];
  EXPECT_EQ(del.type, WatchEvent::Type::kDelete);
  EXPECT_EQ(del.kv.key, "before");
  EXPECT_EQ(del.kv.value, "");
  EXPECT_EQ(del.kv.mod_revision, r2);
  EXPECT_EQ(rec.violations(), "");
}

TEST_P(MetaStoreConformance, WatchFiltersByPrefix) {
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("a/", 0, rec.callback()));
  Revision r1 = 0, r2 = 0, r3 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r1, store().put("a/1", "x"));
  HIFI_ASSERT_OK(store().put("b/1", "x"));
  TxnResult t;
  HIFI_ASSERT_OK_AND_ASSIGN(t, store().txn({}, {Op::put("b/2", "x"), Op::put("a/2", "x")}));
  r2 = t.revision;
  HIFI_ASSERT_OK(store().put("a", "not under a/"));
  HIFI_ASSERT_OK(store().put("a0", "not under a/"));
  HIFI_ASSERT_OK_AND_ASSIGN(r3, store().del("a/1"));
  ASSERT_TRUE(rec.wait_for_revision(r3));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].revision, r1);
  EXPECT_EQ(responses[1].revision, r2);
  EXPECT_EQ(keys_of(responses[1]), (std::vector<std::string>{"a/2"}));
  EXPECT_EQ(responses[2].revision, r3);
  EXPECT_EQ(rec.violations(), "");
}

TEST_P(MetaStoreConformance, WatchResumesFromAnOldRevision) {
  const Revision r0 = current();
  for (int i = 1; i <= 5; ++i) {
    HIFI_ASSERT_OK(store().put("k" + std::to_string(i), "v" + std::to_string(i)));
  }
  HIFI_ASSERT_OK(store().del("k2"));  // r0 + 6
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", r0 + 3, rec.callback()));
  ASSERT_TRUE(rec.wait_for_revision(r0 + 6));
  Revision live = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(live, store().put("k7", "v7"));
  ASSERT_TRUE(rec.wait_for_revision(live));

  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(responses[i].revision, r0 + 3 + i);
    ASSERT_EQ(responses[i].events.size(), 1u);
  }
  EXPECT_EQ(responses[0].events[0].kv.key, "k3");
  EXPECT_EQ(responses[0].events[0].kv.value, "v3");
  EXPECT_EQ(responses[0].events[0].kv.create_revision, r0 + 3);
  EXPECT_EQ(responses[0].events[0].kv.version, 1);
  EXPECT_EQ(responses[3].events[0].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(responses[3].events[0].kv.key, "k2");
  EXPECT_EQ(responses[4].events[0].kv.key, "k7");
  EXPECT_EQ(rec.violations(), "");
}

TEST_P(MetaStoreConformance, WatchResumedDuringWritesHasNoGapsOrDuplicates) {
  const Revision r0 = current();
  constexpr int kWrites = 300;
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      auto r = store_->put("w/" + std::to_string(i % 7), std::to_string(i));
      EXPECT_TRUE(r.is_ok()) << status_text(r);
      ++written;
    }
  });
  // Start watching from the first write while the writer is mid-way.
  ASSERT_TRUE(wait_until([&] { return written.load() >= kWrites / 3; }));
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("w/", r0 + 1, rec.callback()));
  writer.join();
  ASSERT_TRUE(rec.wait_for_revision(r0 + kWrites));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), static_cast<std::size_t>(kWrites));
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_EQ(responses[i].revision, r0 + 1 + i);
    ASSERT_EQ(responses[i].events.size(), 1u);
    EXPECT_EQ(responses[i].events[0].kv.value, std::to_string(i));
  }
  EXPECT_EQ(rec.violations(), "");
}

TEST_P(MetaStoreConformance, WatchFromAFutureRevision) {
  const Revision r0 = current();
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", r0 + 3, rec.callback()));
  for (int i = 0; i < 4; ++i) HIFI_ASSERT_OK(store().put("k", std::to_string(i)));
  ASSERT_TRUE(rec.wait_for_revision(r0 + 4));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].revision, r0 + 3);
  EXPECT_EQ(responses[1].revision, r0 + 4);
}


TEST_P(MetaStoreConformance, CancelStopsDelivery) {
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, rec.callback()));
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().put("k", "1"));
  ASSERT_TRUE(rec.wait_for_revision(r));
  handle->cancel();
  handle->cancel();  // idempotent

  Sentinel sentinel(store());
  for (int i = 0; i < 5; ++i) {
    HIFI_ASSERT_OK_AND_ASSIGN(r, store().put("k", std::to_string(i)));
  }
  ASSERT_TRUE(sentinel.saw(r));
  EXPECT_EQ(rec.calls(), 1u);
}

TEST_P(MetaStoreConformance, DestroyingTheHandleCancels) {
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, rec.callback()));
  handle.reset();
  Sentinel sentinel(store());
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().put("k", "1"));
  ASSERT_TRUE(sentinel.saw(r));
  EXPECT_EQ(rec.calls(), 0u);
}

TEST_P(MetaStoreConformance, CancelWaitsForARunningCallback) {
  std::atomic<bool> entered{false}, cancel_started{false}, cancel_returned{false};
  std::atomic<bool> exited{false};
  std::atomic<int> calls{0};
  auto cb = [&](const Status&, const WatchResponse&) {
    ++calls;
    entered = true;
    wait_until([&] { return cancel_started.load(); });
    // cancel() is now in progress on another thread; it must not return
    // while this callback still runs.
    EXPECT_FALSE(wait_until([&] { return cancel_returned.load(); }, 200ms));
    exited = true;
  };
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, cb));
  HIFI_ASSERT_OK(store().put("k", "1"));
  HIFI_ASSERT_OK(store().put("k", "2"));
  ASSERT_TRUE(wait_until([&] { return entered.load(); }));
  bool exited_when_returned = false;
  std::thread canceller([&] {
    cancel_started = true;
    handle->cancel();
    exited_when_returned = exited.load();
    cancel_returned = true;
  });
  canceller.join();
  EXPECT_TRUE(exited_when_returned);
  Sentinel sentinel(store());
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().put("k", "3"));
  ASSERT_TRUE(sentinel.saw(r));
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(MetaStoreConformance, CancelFromInsideTheCallbackDoesNotDeadlock) {
  std::mutex mu;
  std::unique_ptr<WatchHandle> handle;
  std::atomic<int> calls{0};
  std::atomic<bool> cancelled{false};
  auto cb = [&](const Status&, const WatchResponse&) {
    ++calls;
    std::lock_guard lock(mu);
    handle->cancel();
    cancelled = true;
  };
  {
    std::lock_guard lock(mu);  // the callback must not see handle unset
    HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("", 0, cb));
  }
  HIFI_ASSERT_OK(store().put("k", "1"));
  HIFI_ASSERT_OK(store().put("k", "2"));
  ASSERT_TRUE(wait_until([&] { return cancelled.load(); }));
  Sentinel sentinel(store());
  Revision r = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r, store().put("k", "3"));
  ASSERT_TRUE(sentinel.saw(r));
  EXPECT_EQ(calls.load(), 1);
  std::lock_guard lock(mu);
  handle.reset();
}

TEST_P(MetaStoreConformance, CallbackMayCallIntoTheStore) {
  std::atomic<bool> done{false};
  auto cb = [&](const Status& s, const WatchResponse& response) {
    if (!s.is_ok()) return;
    for (const auto& e : response.events) {
      auto kv = store_->get(e.kv.key);
      EXPECT_TRUE(kv.is_ok()) << status_text(kv);
      auto r = store_->put("echo/" + e.kv.key, e.kv.value);
      EXPECT_TRUE(r.is_ok()) << status_text(r);
    }
    done = true;
  };
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("src/", 0, cb));
  HIFI_ASSERT_OK(store().put("src/x", "hello"));
  ASSERT_TRUE(wait_until([&] { return done.load(); }));
  handle.reset();
  EXPECT_EQ(value_of("echo/src/x"), "hello");
}

TEST_P(MetaStoreConformance, ManyWatchersEachSeeEverything) {
  constexpr int kWatchers = 5;
  std::vector<std::unique_ptr<WatchRecorder>> recs;
  std::vector<std::unique_ptr<WatchHandle>> handles;
  const Revision r0 = current();
  for (int i = 0; i < kWatchers; ++i) {
    recs.push_back(std::make_unique<WatchRecorder>());
    std::unique_ptr<WatchHandle> h;
    HIFI_ASSERT_OK_AND_ASSIGN(h, store().watch("", 0, recs.back()->callback()));
    handles.push_back(std::move(h));
  }
  for (int i = 0; i < 50; ++i) HIFI_ASSERT_OK(store().put("k" + std::to_string(i % 3), "v"));
  for (auto& rec : recs) {
    ASSERT_TRUE(rec->wait_for_revision(r0 + 50));
    EXPECT_EQ(rec->responses().size(), 50u);
    EXPECT_EQ(rec->violations(), "");
  }
}

// --- leases ----------------------------------------------------------------------

TEST_P(MetaStoreConformance, LeaseGrantRejectsNonPositiveTtl) {
  for (std::int64_t ttl : {0, -5}) {
    auto r = store().lease_grant(ttl);
    ASSERT_FALSE(r.is_ok()) << ttl;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST_P(MetaStoreConformance, LeaseExpiryDeletesItsKeysInOneRevision) {
  LeaseId lease = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(lease, store().lease_grant(1));
  EXPECT_NE(lease, 0);
  HIFI_ASSERT_OK(store().put("l/a", "1", lease));
  HIFI_ASSERT_OK(store().put("l/b", "2", lease));
  HIFI_ASSERT_OK(store().put("l/c", "kept"));
  KeyValue kv;
  HIFI_ASSERT_OK_AND_ASSIGN(kv, store().get("l/a"));
  EXPECT_EQ(kv.lease, lease);

  const Revision before = current();
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("l/", 0, rec.callback()));
  ASSERT_TRUE(wait_until([&] { return store().get("l/a").status().code() == Code::kNotFound; }));
  EXPECT_EQ(store().get("l/b").status().code(), Code::kNotFound);
  EXPECT_EQ(value_of("l/c"), "kept");
  EXPECT_EQ(current(), before + 1);

  ASSERT_TRUE(rec.wait_for_revision(before + 1));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(keys_of(responses[0]), (std::vector<std::string>{"l/a", "l/b"}));
  for (const auto& e : responses[0].events) EXPECT_EQ(e.type, WatchEvent::Type::kDelete);

  EXPECT_EQ(store().lease_keepalive(lease).code(), Code::kNotFound);
  EXPECT_EQ(store().put("l/d", "x", lease).status().code(), Code::kNotFound);
}

TEST_P(MetaStoreConformance, LeaseKeepaliveKeepsKeysAlive) {
  LeaseId lease = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(lease, store().lease_grant(1));
  HIFI_ASSERT_OK(store().put("alive", "v", lease));
  // Keep the lease alive for well past its TTL. The sleep paces the
  // keepalives; it does not wait for anything to happen.
  const auto until = std::chrono::steady_clock::now() + 2500ms;
  while (std::chrono::steady_clock::now() < until) {
    HIFI_ASSERT_OK(store().lease_keepalive(lease));
    ASSERT_EQ(value_of("alive"), "v");
    std::this_thread::sleep_for(200ms);
  }
  // Left alone, it expires.
  ASSERT_TRUE(wait_until([&] { return store().get("alive").status().code() == Code::kNotFound; }));
}

TEST_P(MetaStoreConformance, LeaseRevokeDeletesItsKeysNow) {
  LeaseId lease = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(lease, store().lease_grant(60));
  HIFI_ASSERT_OK(store().put("r/a", "1", lease));
  HIFI_ASSERT_OK(store().put("r/b", "2", lease));
  // Overwriting without the lease detaches the key from it.
  HIFI_ASSERT_OK(store().put("r/b", "3"));
  const Revision before = current();
  HIFI_ASSERT_OK(store().lease_revoke(lease));
  EXPECT_EQ(store().get("r/a").status().code(), Code::kNotFound);
  EXPECT_EQ(value_of("r/b"), "3");
  EXPECT_EQ(current(), before + 1);
  EXPECT_EQ(store().lease_revoke(lease).code(), Code::kNotFound);
  EXPECT_EQ(store().lease_keepalive(lease).code(), Code::kNotFound);
}

TEST_P(MetaStoreConformance, RevokingALeaseWithoutKeysDoesNotBumpRevision) {
  LeaseId lease = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(lease, store().lease_grant(60));
  const Revision before = current();
  HIFI_ASSERT_OK(store().lease_revoke(lease));
  EXPECT_EQ(current(), before);
}

TEST_P(MetaStoreConformance, UnknownLeaseIsNotFound) {
  EXPECT_EQ(store().lease_keepalive(424242).code(), Code::kNotFound);
  EXPECT_EQ(store().lease_revoke(424242).code(), Code::kNotFound);
}

// --- concurrency -------------------------------------------------------------------

TEST_P(MetaStoreConformance, ConcurrentCompareAndSwapIncrementsAreSerializable) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 200;
  constexpr int kTotal = kThreads * kIncrements;
  Revision r0 = 0;
  HIFI_ASSERT_OK_AND_ASSIGN(r0, store().put("counter", "0"));
  WatchRecorder rec;
  std::unique_ptr<WatchHandle> handle;
  HIFI_ASSERT_OK_AND_ASSIGN(handle, store().watch("counter", r0 + 1, rec.callback()));

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kIncrements;) {
        auto kv = store_->get("counter");
        if (!kv.is_ok()) {
          ++failures;
          return;
        }
        const int next = std::stoi(kv->value) + 1;
        auto cas = store_->txn({Compare::mod_revision_equals("counter", kv->mod_revision)},
                               {Op::put("counter", std::to_string(next))});
        if (!cas.is_ok()) {
          ++failures;
          return;
        }
        if (cas->succeeded) ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(value_of("counter"), std::to_string(kTotal));
  EXPECT_EQ(current(), r0 + kTotal);

  ASSERT_TRUE(rec.wait_for_revision(r0 + kTotal));
  auto responses = rec.responses();
  ASSERT_EQ(responses.size(), static_cast<std::size_t>(kTotal));
  for (int i = 0; i < kTotal; ++i) {
    ASSERT_EQ(responses[i].revision, r0 + 1 + i);
    ASSERT_EQ(responses[i].events.size(), 1u);
    ASSERT_EQ(responses[i].events[0].kv.value, std::to_string(i + 1));
  }
  EXPECT_EQ(rec.violations(), "");
}

TEST_P(MetaStoreConformance, ReadersSeeConsistentSnapshotsDuringWrites) {
  // Pairs of keys are always written together, so a range must never show
  // one of a pair without the other or with a different value.
  constexpr int kWrites = 200;
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, errors{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto r = store_->range("pair/");
      if (!r.is_ok()) {
        ++errors;
        continue;
      }
      if (r->kvs.size() == 2) {
        if (r->kvs[0].value != r->kvs[1].value) ++torn;
      } else if (!r->kvs.empty()) {
        ++torn;
      }
    }
  });
  for (int i = 0; i < kWrites; ++i) {
    const std::string v = std::to_string(i);
    HIFI_ASSERT_OK(store().txn({}, {Op::put("pair/a", v), Op::put("pair/b", v)}));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace hifi::store_test
