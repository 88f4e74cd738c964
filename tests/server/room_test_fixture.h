// The fixture of the room integration tests: an in-process server with
// helpers to register, upload, make rooms, send commands and join rooms'
// WebSockets. Shared by rooms_test.cc and personal_room_test.cc.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/test_server.h"
#include "support/eventually.h"
#include "server/ws_client.h"

namespace hifi::testing {

namespace room_test {
using V = http::verb;
namespace json = boost::json;
}  // namespace room_test

using room_test::V;
namespace json = boost::json;

inline std::string str(const boost::json::value& v) { return std::string(v.as_string()); }

// The ids of a state's queue, in order.
inline std::vector<std::string> queue_ids(const boost::json::object& state) {
  std::vector<std::string> out;
  for (const auto& item : state.at("queue").as_array()) out.push_back(str(item.at("id")));
  return out;
}

inline std::vector<std::string> usernames(const boost::json::array& listeners) {
  std::vector<std::string> out;
  for (const auto& l : listeners) out.push_back(str(l.at("username")));
  return out;
}

inline double system_now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class RoomsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Hundreds of requests per test: keep the log to what matters.
    previous_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::warn);
    dir_ = fresh_dir("rooms");
    server_ = std::make_unique<TestServer>(dir_);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
    spdlog::set_level(previous_level_);
  }

  HttpResult post_json(const std::string& target, const json::object& body, const std::string& token = {}) {
    return post_raw(target, json::serialize(body), token);
  }
  HttpResult post_raw(const std::string& target, const std::string& body, const std::string& token = {}) {
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return server_->request(V::post, target, body, headers);
  }
  HttpResult get(const std::string& target, const std::string& token) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return server_->request(V::get, target, {}, headers);
  }
  HttpResult del(const std::string& target, const std::string& token) {
    return server_->request(V::delete_, target, {}, {{"Authorization", "Bearer " + token}});
  }

  std::string register_and_login(const std::string& name) {
    auto r = post_json("/api/v1/auth/register", {{"username", name}, {"password", "correct horse"}});
    EXPECT_EQ(r.status, 201) << r.body;
    auto l = post_json("/api/v1/auth/login", {{"username", name}, {"password", "correct horse"}});
    EXPECT_EQ(l.status, 200) << l.body;
    return str(l.json().at("token"));
  }
  std::string user_id(const std::string& token) { return str(get("/api/v1/me", token).json().at("id")); }

  // Uploads a tone and returns the song's id.
  std::string upload_song(const std::string& token, double frequency, double seconds = 5, int rate = 8000) {
    auto r = server_->request(V::post, "/api/v1/songs", make_wav(frequency, seconds, rate),
                              {{"Authorization", "Bearer " + token},
                               {"Content-Type", "audio/wav"},
                               {"X-Filename", "tone.wav"}});
    EXPECT_TRUE(r.status == 201 || r.status == 200) << r.body;
    return str(r.json().at("id"));
  }

  std::string create_room(const std::string& token, const std::string& name = "Living room") {
    auto r = post_json("/api/v1/rooms", {{"name", name}}, token);
    EXPECT_EQ(r.status, 201) << r.body;
    return str(r.json().at("id"));
  }

  HttpResult command(const std::string& token, const std::string& room, const json::object& c) {
    return post_json("/api/v1/rooms/" + room + "/commands", c, token);
  }
  // Runs a command that must succeed; returns the room's new state. The
  // answer comes once the node's room view has the change, before its hub
  // has told the listeners; this also waits until the hub has it (when it
  // has the room's listeners), so that what reads the hub's rooms next (the
  // play counter) sees it.
  json::object ok_command(const std::string& token, const std::string& room, const json::object& c) {
    auto r = command(token, room, c);
    EXPECT_EQ(r.status, 200) << json::serialize(c) << " -> " << r.body;
    if (r.status != 200) return {};
    const auto body = r.json();
    if (const auto* revision = body.as_object().if_contains("revision"); revision && revision->is_int64()) {
      wait_for_hub(room, revision->as_int64());
    }
    return body.at("state").as_object();
  }
  void wait_for_hub(const std::string& room, std::int64_t revision) {
    const bool caught_up = eventually([&] {
      for (const auto& local : server_->node().hub().local_rooms()) {
        if (local.room.id == room) return local.room.revision >= revision;
      }
      return true;  // nobody listens here: the hub keeps no view of it
    }, std::chrono::seconds(5));
    if (!caught_up) ADD_FAILURE() << "the hub did not get revision " << revision << " of room " << room;
  }
  json::object room_state(const std::string& token, const std::string& room) {
    auto r = get("/api/v1/rooms/" + room, token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().at("state").as_object();
  }

  static std::string ws_target(const std::string& room, const std::string& token = {},
                               std::optional<std::int64_t> since = std::nullopt) {
    std::string t = "/api/v1/rooms/" + room + "/ws";
    std::string sep = "?";
    if (!token.empty()) {
      t += sep + "access_token=" + token;
      sep = "&";
    }
    if (since) t += sep + "since=" + std::to_string(*since);
    return t;
  }

  // A listener that has joined (its snapshot read and returned in *snapshot).
  std::unique_ptr<WsClient> join(const std::string& token, const std::string& room,
                                 json::object* snapshot = nullptr) {
    auto ws = std::make_unique<WsClient>();
    ws->open(server_->port(), ws_target(room), token);
    auto first = ws->read();
    EXPECT_TRUE(first.has_value()) << ws->error().message();
    if (first) {
      EXPECT_EQ(first->at("type").as_string(), "snapshot") << json::serialize(*first);
      if (snapshot) *snapshot = *first;
    }
    return ws;
  }

  static void expect_problem(const HttpResult& r, int status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
    if (r.header("content-type") != "application/problem+json") return;
    auto j = r.json().as_object();
    EXPECT_EQ(j.at("type").as_string(), "urn:hifi:problem:" + type) << r.body;
    EXPECT_EQ(j.at("status").as_int64(), status);
    EXPECT_TRUE(j.contains("detail"));
  }

  spdlog::level::level_enum previous_level_ = spdlog::level::info;
  std::filesystem::path dir_;
  std::unique_ptr<TestServer> server_;
};

}  // namespace hifi::testing
