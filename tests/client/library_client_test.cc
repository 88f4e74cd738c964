// LibraryClient against the real in-process server: stars, ratings,
// history, playlists and shares as the CLI calls them.
#include "client/library_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/test_server.h"

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class LibraryClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = hifi::testing::fresh_dir("library-client");
    server_ = std::make_unique<hifi::testing::TestServer>(dir_ / "server");
    ClientOptions o;
    o.servers = {"http://127.0.0.1:" + std::to_string(server_->port())};
    api_ = std::make_unique<ApiClient>(o);
    json::value creds = json::object{{"username", "alice"}, {"password", "correct horse"}};
    ASSERT_TRUE(api_->json("POST", "/api/v1/auth/register", &creds));
    auto login = api_->json("POST", "/api/v1/auth/login", &creds);
    ASSERT_TRUE(login);
    api_->set_token(std::string(login->at("token").as_string()));
  }
  void TearDown() override {
    api_.reset();
    server_.reset();
    fs::remove_all(dir_);
  }

  std::string upload(double hz) {
    const auto path = dir_ / ("song" + std::to_string(static_cast<int>(hz)) + ".wav");
    std::ofstream(path, std::ios::binary) << hifi::testing::make_wav(hz);
    auto r = api_->upload_song(path.string(), sha256_file(path.string()), nullptr);
    EXPECT_TRUE(r) << r.error.message();
    return r ? std::string(r->at("id").as_string()) : std::string();
  }

  fs::path dir_;
  std::unique_ptr<hifi::testing::TestServer> server_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(LibraryClientTest, StarsRatingsAndHistory) {
  LibraryClient library(*api_);
  auto id = upload(440);
  ASSERT_TRUE(library.star(LibraryItem::kSong, id, true));
  ASSERT_TRUE(library.rate(LibraryItem::kSong, id, 3));
  auto starred = library.starred();
  ASSERT_TRUE(starred) << starred.error.message();
  ASSERT_EQ(starred->at("songs").as_array().size(), 1u);
  EXPECT_EQ(starred->at("songs").at(0).at("rating").as_int64(), 3);
  ASSERT_TRUE(library.star(LibraryItem::kSong, id, false));
  EXPECT_TRUE(library.starred()->at("songs").as_array().empty());

  auto missing = library.star(LibraryItem::kAlbum, "0123456789abcdef", true);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error.status, 404);
  EXPECT_EQ(missing.error.exit_code(), kExitNotFound);

  ASSERT_TRUE(library.record_play(id, "client-test"));
  auto history = library.history(10);
  ASSERT_TRUE(history) << history.error.message();
  ASSERT_EQ(history->at("items").as_array().size(), 1u);
  EXPECT_EQ(history->at("items").at(0).at("client").as_string(), "client-test");
}

TEST_F(LibraryClientTest, PlaylistsAndShares) {
  LibraryClient library(*api_);
  auto a = upload(440);
  auto b = upload(450);
  auto made = library.create_playlist("Mix", "", false, {a});
  ASSERT_TRUE(made) << made.error.message();
  const std::string id(made->at("id").as_string());
  PlaylistChange change;
  change.add = {b};
  change.name = "Renamed";
  auto changed = library.update_playlist(id, change);
  ASSERT_TRUE(changed) << changed.error.message();
  EXPECT_EQ(changed->at("song_count").as_int64(), 2);
  EXPECT_EQ(changed->at("name").as_string(), "Renamed");
  PlaylistChange removal;
  removal.remove = {0};
  EXPECT_EQ(library.update_playlist(id, removal)->at("songs").at(0).at("id").as_string(), b);
  PlaylistChange unknown;
  unknown.add = {"0123456789abcdef0123456789abcdef"};
  auto refused = library.update_playlist(id, unknown);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error.type, "invalid-parameter");
  EXPECT_EQ(library.playlists()->at("items").as_array().size(), 1u);
  ASSERT_TRUE(library.delete_playlist(id));
  EXPECT_EQ(library.playlist(id).error.status, 404);

  ShareRequest request;
  request.song_ids = {a, b};
  request.description = "both";
  auto share = library.create_share(request);
  ASSERT_TRUE(share) << share.error.message();
  EXPECT_EQ(share->at("songs").as_array().size(), 2u);
  EXPECT_NE(std::string(share->at("url").as_string()).find("/share/"), std::string::npos);
  ASSERT_EQ(library.shares()->at("items").as_array().size(), 1u);
  ASSERT_TRUE(library.delete_share(std::string(share->at("id").as_string())));
  EXPECT_TRUE(library.shares()->at("items").as_array().empty());
}

TEST(ParseDuration, UnitsAndLimits) {
  EXPECT_EQ(parse_duration_ms("90s"), 90'000);
  EXPECT_EQ(parse_duration_ms("30m"), 1'800'000);
  EXPECT_EQ(parse_duration_ms("12h"), 43'200'000);
  EXPECT_EQ(parse_duration_ms("7d"), 604'800'000);
  EXPECT_EQ(parse_duration_ms("2w"), 1'209'600'000);
  for (const char* bad : {"", "d", "7", "0d", "-1d", "7x", "1.5h", "soon", "99999999999d", "7d "}) {
    EXPECT_FALSE(parse_duration_ms(bad)) << bad;
  }
}

}  // namespace
}  // namespace hifi::client
