// Seek data (docs/protocol.md, "Seek data"), on an in-process single node:
// a listener that asks for it gets, right before the state of a jump into a
// song, the bytes of the stored file its player reads to start there; a
// listener that does not ask gets none; changes that are not jumps carry
// none; and the node times a jump by the seek-data lead of such a listener
// instead of its fetch lead.
#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "common/byteranges.h"
#include "server/room_test_fixture.h"

namespace hifi::testing {
namespace {

struct Message {
  bool binary = false;
  std::string text;
};

// The messages up to and including the next `state`.
std::vector<Message> until_state(WsClient& ws) {
  std::vector<Message> out;
  for (;;) {
    auto text = ws.read_text();
    if (!text) {
      ADD_FAILURE() << "no state came: " << ws.error().message();
      return out;
    }
    out.push_back({ws.got_binary(), std::move(*text)});
    if (!out.back().binary && json::parse(out.back().text).at("type").as_string() == "state") return out;
  }
}

void report(WsClient& ws, json::object leads) {
  leads["type"] = "time";
  leads["t0"] = system_now_ms();
  ASSERT_FALSE(ws.send(leads));
  ASSERT_TRUE(ws.read_type("time"));  // handled in order: the hub knows now
}

TEST_F(RoomsTest, AListenerThatAsksGetsTheSeekDataRightBeforeTheJump) {
  auto alice = register_and_login("alice");
  auto room = create_room(alice);
  auto song = upload_song(alice, 440, 30);
  auto stored = get("/api/v1/songs/" + song + "/stream", alice);
  ASSERT_EQ(stored.status, 200);
  auto asks = join(alice, room);
  auto plain = join(alice, room);
  report(*asks, {{"lead_ms", 40},
                 {"fetch_lead_ms", 150},
                 {"seek_data_rate", 48000},
                 {"seek_data_behind_frames", 48000},
                 {"seek_data_lead_ms", 70}});
  report(*plain, {{"lead_ms", 40}});
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  ok_command(alice, room, {{"type", "play"}});
  for (auto* ws : {asks.get(), plain.get()}) {
    for (int i = 0; i < 2; ++i) {
      for (const auto& m : until_state(*ws)) EXPECT_FALSE(m.binary) << "seek data for an add or a play from 0";
    }
  }

  server_->clock().advance_ms(1000);
  const auto now = server_->clock().now_ms();
  auto sought = ok_command(alice, room, {{"type", "seek"}, {"position_ms", 20000}});
  // One node holds every song: the listener that takes seek data needs its
  // seek-data lead (70), not its fetch lead (150).
  EXPECT_EQ(sought.at("position_at").to_number<std::int64_t>(), now + 70);

  auto got = until_state(*asks);
  ASSERT_GE(got.size(), 2u);
  const auto& data = got[got.size() - 2];
  ASSERT_TRUE(data.binary) << "the message before the seek's state is its seek data";
  const auto newline = data.text.find('\n');
  ASSERT_NE(newline, std::string::npos);
  auto header = json::parse(data.text.substr(0, newline)).as_object();
  EXPECT_EQ(header.at("type").as_string(), "seek_data");
  EXPECT_EQ(header.at("song_id").as_string(), song);
  EXPECT_EQ(header.at("frame").to_number<std::uint64_t>(), 19000ULL * 48) << "where the player's decoder starts";
  EXPECT_EQ(header.at("rate").to_number<int>(), 48000);
  EXPECT_EQ(header.at("etag").as_string(), stored.header("etag"));
  EXPECT_EQ(header.at("revision").to_number<std::int64_t>(),
            json::parse(got.back().text).at("revision").to_number<std::int64_t>());
  auto parts = parse_byteranges(std::string(header.at("content_type").as_string()), data.text.substr(newline + 1));
  ASSERT_TRUE(parts) << parts.status().to_string();
  ASSERT_FALSE(parts->empty());
  EXPECT_EQ(parts->front().first, 0u) << "the opening's reads come first";
  std::uint64_t planned = 0;
  for (const auto& part : *parts) {
    EXPECT_EQ(part.total, stored.body.size());
    ASSERT_LE(part.first + part.bytes.size(), stored.body.size());
    EXPECT_TRUE(part.bytes == stored.body.substr(part.first, part.bytes.size())) << "part at " << part.first;
    planned += part.bytes.size();
  }
  // The opening, and the bytes from 19 s to 21 s of an 8 kHz mono WAV
  // (16,000 a second after its 44-byte header), not the whole file.
  EXPECT_LT(planned, stored.body.size());
  auto holds = [&](std::uint64_t offset) {
    for (const auto& part : *parts) {
      if (offset >= part.first && offset < part.first + part.bytes.size()) return true;
    }
    return false;
  };
  EXPECT_TRUE(holds(44 + 19 * 16000));
  EXPECT_TRUE(holds(44 + 21 * 16000 - 2));

  for (const auto& m : until_state(*plain)) EXPECT_FALSE(m.binary) << "sent to a listener that did not ask";

  // A pause is not a jump: no seek data.
  server_->clock().advance_ms(1000);
  ok_command(alice, room, {{"type", "pause"}});
  for (const auto& m : until_state(*asks)) EXPECT_FALSE(m.binary);

  // A listener that stops asking gets none, and its fetch lead counts again.
  report(*asks, {{"lead_ms", 40}, {"fetch_lead_ms", 150}});
  ok_command(alice, room, {{"type", "play"}});
  (void)until_state(*asks);
  server_->clock().advance_ms(1000);
  const auto later = server_->clock().now_ms();
  auto again = ok_command(alice, room, {{"type", "seek"}, {"position_ms", 10000}});
  EXPECT_EQ(again.at("position_at").to_number<std::int64_t>(), later + 150);
  for (const auto& m : until_state(*asks)) EXPECT_FALSE(m.binary);
  asks->close();
  plain->close();
}

// A listener that takes seek data but does not read: once its socket is
// full, only the newest two are kept queued for it, so what it is sent stays
// bounded; every state still comes, in order, each after its seek data.
TEST_F(RoomsTest, ASlowListenerIsSentOnlyTheNewestSeekData) {
  auto alice = register_and_login("alice");
  auto room = create_room(alice);
  auto song = upload_song(alice, 440, 30);
  auto slow = join(alice, room);
  report(*slow, {{"lead_ms", 40}, {"seek_data_rate", 48000}, {"seek_data_lead_ms", 70}});
  ok_command(alice, room, {{"type", "add"}, {"song_ids", {song}}});
  ok_command(alice, room, {{"type", "play"}});
  // Each seek's data is about 130 KB: 150 of them are far more than the
  // loopback socket buffers hold.
  constexpr int kSeeks = 150;
  for (int i = 0; i < kSeeks; ++i) {
    ok_command(alice, room, {{"type", "seek"}, {"position_ms", 1000 + 100 * (i % 200)}});
  }
  int seek_states = 0;
  int seek_data = 0;
  std::int64_t data_revision = -1;
  while (seek_states < kSeeks) {
    auto text = slow->read_text();
    ASSERT_TRUE(text) << "after " << seek_states << " seek states: " << slow->error().message();
    if (slow->got_binary()) {
      ++seek_data;
      data_revision = json::parse(text->substr(0, text->find('\n'))).at("revision").to_number<std::int64_t>();
      continue;
    }
    auto m = json::parse(*text).as_object();
    if (m.at("type").as_string() != "state" || m.at("command").at("type").as_string() != "seek") continue;
    ++seek_states;
    if (data_revision >= 0) {
      EXPECT_LE(data_revision, m.at("revision").to_number<std::int64_t>()) << "seek data after its state";
    }
  }
  EXPECT_GT(seek_data, 0);
  EXPECT_LT(seek_data, kSeeks) << "every seek's data was kept for a listener that did not read";
  std::printf("a listener that did not read got %d of %d seek data messages\n", seek_data, kSeeks);
  slow->close();
}

}  // namespace
}  // namespace hifi::testing
