// jukeboxControl drives a room: the default personal room made on first
// use, a room chosen through HiFi's API, every action as seen by the room's
// listeners (through HiFi's own room API), XML and JSON, and the errors.
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

class SubsonicJukeboxTest : public SubsonicTest {
 protected:
  void SetUp() override {
    SubsonicTest::SetUp();
    for (int i = 0; i < 3; ++i) {
      songs_.push_back(add_song(220 + 110 * i, "Song " + std::to_string(i), "Artist", "Album"));
    }
  }

  json::object jukebox(const std::string& query) {
    return ok_json("jukeboxControl", query);
  }

  // The room as HiFi's API shows it to every listener.
  json::object room(const std::string& id) {
    auto r = get("/api/v1/rooms/" + id, token_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().as_object();
  }

  // The song ids of the room's queue, in order.
  std::vector<std::string> queue_songs(const std::string& id) {
    std::vector<std::string> out;
    const auto r = room(id);
    for (const auto& item : r.at("state").at("queue").as_array()) out.emplace_back(item.at("song_id").as_string());
    return out;
  }

  // The caller's personal room, which the jukebox drives by default.
  std::string personal_room(const std::string& token) {
    auto r = get("/api/v1/me/room", token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? std::string(r.json().at("id").as_string()) : std::string();
  }

  std::string ids(std::initializer_list<int> indexes) {
    std::string out;
    for (int i : indexes) out += "&id=" + songs_[static_cast<std::size_t>(i)];
    return out.substr(1);
  }

  std::vector<std::string> songs_;
};

TEST_F(SubsonicJukeboxTest, ByDefaultItDrivesTheUsersPersonalRoom) {
  auto status = jukebox("action=status")["jukeboxStatus"].as_object();
  EXPECT_EQ(status.at("currentIndex"), -1);
  EXPECT_EQ(status.at("playing"), false);
  EXPECT_EQ(status.at("gain").to_number<double>(), 1.0);
  EXPECT_EQ(status.at("position"), 0);
  jukebox("action=add&" + ids({0}));
  const auto id = personal_room(token_);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(queue_songs(id), std::vector<std::string>{songs_[0]});
  // Private: not listed, and the default rather than a choice.
  EXPECT_EQ(get("/api/v1/rooms", token_).json().at("items").as_array().size(), 0u);
  auto mine = get("/api/v1/me/jukebox", token_).json().as_object();
  EXPECT_TRUE(mine.at("room_id").is_null());
  EXPECT_EQ(room(id).at("owner"), get("/api/v1/me", token_).json().at("id"));
  EXPECT_EQ(room(id).at("private"), true);
  EXPECT_EQ(room(id).at("name"), "alice's music");
  // Nobody else may pick it for their jukebox, nor see it.
  const auto bob = register_and_login("bob", kPassword);
  auto put_bob = server_->request(V::put, "/api/v1/me/jukebox", body_of({{"room_id", id}}),
                                  {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + bob}});
  expect_problem(put_bob, 404, "not-found");
  EXPECT_EQ(get("/api/v1/rooms/" + id, bob).status, 404);
}

TEST_F(SubsonicJukeboxTest, EveryActionIsARoomCommandEveryListenerSees) {
  jukebox("action=set&" + ids({0, 1}));
  const auto id = personal_room(token_);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(queue_songs(id), (std::vector<std::string>{songs_[0], songs_[1]}));
  jukebox("action=add&" + ids({2}));
  EXPECT_EQ(queue_songs(id).size(), 3u);

  auto playlist = jukebox("action=get")["jukeboxPlaylist"].as_object();
  EXPECT_EQ(playlist.at("currentIndex"), 0);
  ASSERT_EQ(playlist.at("entry").as_array().size(), 3u);
  EXPECT_EQ(playlist.at("entry").as_array()[2].at("id").as_string(), songs_[2]);
  EXPECT_EQ(playlist.at("entry").as_array()[2].at("title"), "Song 2");
  auto xml = ok_xml("jukeboxControl", "action=get");
  EXPECT_NE(xml.find("<jukeboxPlaylist currentIndex=\"0\" playing=\"false\" gain=\"1"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<entry id=\"" + songs_[1] + "\""), std::string::npos) << xml;

  EXPECT_EQ(jukebox("action=start")["jukeboxStatus"].at("playing"), true);
  EXPECT_EQ(room(id).at("state").at("playing"), true);
  auto skipped = jukebox("action=skip&index=2&offset=0")["jukeboxStatus"].as_object();
  EXPECT_EQ(skipped.at("currentIndex"), 2);
  EXPECT_EQ(skipped.at("playing"), true);
  const auto items = room(id).at("state").at("queue").as_array();
  EXPECT_EQ(room(id).at("state").at("current"), items[2].at("id"));
  EXPECT_EQ(jukebox("action=stop")["jukeboxStatus"].at("playing"), false);
  EXPECT_EQ(room(id).at("state").at("playing"), false);

  jukebox("action=remove&index=0");
  EXPECT_EQ(queue_songs(id), (std::vector<std::string>{songs_[1], songs_[2]}));
  EXPECT_EQ(jukebox("action=status")["jukeboxStatus"].at("currentIndex"), 1);

  // setGain is kept and reported back (rooms have no gain).
  EXPECT_EQ(jukebox("action=setGain&gain=0.25")["jukeboxStatus"].at("gain").to_number<double>(), 0.25);
  EXPECT_EQ(jukebox("action=status")["jukeboxStatus"].at("gain").to_number<double>(), 0.25);
  EXPECT_EQ(get("/api/v1/me/jukebox", token_).json().at("gain").to_number<double>(), 0.25);

  jukebox("action=add&" + ids({0, 0, 0}));
  auto before = queue_songs(id);
  jukebox("action=shuffle");
  auto after = queue_songs(id);
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after);  // the same songs, in some order

  jukebox("action=clear");
  EXPECT_TRUE(queue_songs(id).empty());
  EXPECT_EQ(jukebox("action=status")["jukeboxStatus"].at("currentIndex"), -1);
}

TEST_F(SubsonicJukeboxTest, SetKeepsPlayingAndSkipTakesAnOffset) {
  jukebox("action=set&" + ids({0, 1}));
  jukebox("action=start");
  auto status = jukebox("action=set&" + ids({2}))["jukeboxStatus"].as_object();
  EXPECT_EQ(status.at("playing"), true);
  EXPECT_EQ(status.at("currentIndex"), 0);
  // The songs are half a second long: an offset past the end stops at it
  // (paused, so that the room does not move on).
  jukebox("action=stop");
  auto skipped = jukebox("action=skip&index=0&offset=30")["jukeboxStatus"].as_object();
  EXPECT_EQ(skipped.at("currentIndex"), 0);
  EXPECT_EQ(room(personal_room(token_)).at("state").at("position_ms"), 500);
}

TEST_F(SubsonicJukeboxTest, TheChosenRoomIsTheOneDriven) {
  auto made = post_json("/api/v1/rooms", {{"name", "Kitchen"}}, token_);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string kitchen(made.json().at("id").as_string());
  auto put = server_->request(V::put, "/api/v1/me/jukebox", body_of({{"room_id", kitchen}}),
                              {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json().at("room_name"), "Kitchen");
  jukebox("action=add&" + ids({1}));
  EXPECT_EQ(queue_songs(kitchen), std::vector<std::string>{songs_[1]});
  EXPECT_TRUE(queue_songs(personal_room(token_)).empty());

  // Another user's jukebox can drive the same room: a shared remote control.
  const auto bob = register_and_login("bob", kPassword);
  const auto bob_app = create_credential(bob, "app-passwords", "Phone", "password");
  auto put_bob = server_->request(V::put, "/api/v1/me/jukebox", body_of({{"room_id", kitchen}}),
                                  {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + bob}});
  ASSERT_EQ(put_bob.status, 200) << put_bob.body;
  auto r = rest("jukeboxControl", token_auth("bob", bob_app) + "&f=json&action=start");
  EXPECT_EQ(response_of(r)["jukeboxStatus"].at("playing"), true) << r.body;
  EXPECT_EQ(room(kitchen).at("state").at("playing"), true);

  // When the chosen room is deleted, a personal room takes over.
  ASSERT_EQ(server_->request(V::delete_, "/api/v1/rooms/" + kitchen, {}, {{"Authorization", "Bearer " + token_}})
                .status,
            204);
  EXPECT_EQ(jukebox("action=get")["jukeboxPlaylist"].as_object().count("entry"), 0u);
  jukebox("action=add&" + ids({2}));
  EXPECT_EQ(queue_songs(personal_room(token_)), std::vector<std::string>{songs_[2]});

  auto unknown = server_->request(V::put, "/api/v1/me/jukebox", body_of({{"room_id", "no-such-room"}}),
                                  {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}});
  expect_problem(unknown, 404, "not-found");
}

TEST_F(SubsonicJukeboxTest, Errors) {
  expect_error(rest("jukeboxControl", auth() + "&f=json"), 10);
  auto unknown = rest("jukeboxControl", auth() + "&f=json&action=dance");
  expect_error(unknown, 0);
  EXPECT_NE(unknown.body.find("get, status, set, start, stop, skip, add, clear, remove, shuffle, setGain"),
            std::string::npos)
      << unknown.body;
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=skip&index=0"), 0);  // empty queue
  jukebox("action=set&" + ids({0, 1}));
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=skip&index=2"), 0);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=remove&index=-1"), 0);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=remove"), 10);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=add"), 10);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=add&id=al-0123456789abcdef"), 70);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=add&id=" + std::string(32, 'a')), 70);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=setGain"), 10);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=setGain&gain=1.5"), 0);
  expect_error(rest("jukeboxControl", auth() + "&f=json&action=setGain&gain=nan"), 0);
  std::string many;
  for (int i = 0; i < 1001; ++i) many += "&id=" + songs_[0];
  expect_error(server_->request(V::post, "/rest/jukeboxControl?f=json", auth() + "&action=add" + many,
                                {{"Content-Type", "application/x-www-form-urlencoded"}}),
               0);
  EXPECT_EQ(jukebox("action=get")["jukeboxPlaylist"].at("entry").as_array().size(), 2u);  // nothing changed
  auto xml = rest("jukeboxControl", auth() + "&action=remove&index=7");
  EXPECT_NE(xml.body.find("<error code=\"0\""), std::string::npos) << xml.body;
}

}  // namespace
}  // namespace hifi::testing
