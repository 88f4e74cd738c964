// SubsonicTest: integration tests of the Subsonic API (/rest/) on an
// in-process server bound to port 0, with a small tagged library, an app
// password and helpers to call endpoints in XML or JSON and check answers.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "common/sha256.h"
#include "server/api_fixture.h"

namespace hifi::testing {

inline std::string md5_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_md5(), nullptr);
  return to_hex(digest, size);
}

// Percent-encodes a query value.
inline std::string q(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

class SubsonicTest : public ApiTest {
 protected:
  static constexpr char kPassword[] = "correct horse";

  void SetUp() override {
    ApiTest::SetUp();
    token_ = register_and_login("alice", kPassword);
    app_password_ = create_credential(token_, "app-passwords", "Phone", "password");
  }

  // POST /api/v1/me/<kind> {"name"}: the secret (field `secret_field`).
  std::string create_credential(const std::string& token, const std::string& kind, const std::string& name,
                                const std::string& secret_field) {
    auto r = post_json("/api/v1/me/" + kind, {{"name", name}}, token);
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {};
    return std::string(r.json().at(secret_field).as_string());
  }

  // Token authentication with `password` (an app password) and a salt.
  static std::string token_auth(const std::string& user, const std::string& password,
                                const std::string& salt = "s4ltOne") {
    return "u=" + q(user) + "&t=" + md5_hex(password + salt) + "&s=" + q(salt);
  }
  std::string auth() const { return token_auth("alice", app_password_); }

  // GET /rest/<endpoint>?<query>&v=1.16.1&c=tests
  HttpResult rest(const std::string& endpoint, const std::string& query) {
    return server_->request(V::get, "/rest/" + endpoint + "?" + query + "&v=1.16.1&c=tests");
  }

  // The subsonic-response object of a JSON call that must succeed.
  json::object ok_json(const std::string& endpoint, const std::string& query = {}) {
    auto r = rest(endpoint, auth() + "&f=json" + (query.empty() ? "" : "&" + query));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json") << r.body;
    auto root = response_of(r);
    EXPECT_EQ(json::serialize(root["status"]), "\"ok\"") << r.body;
    return root;
  }

  // The body of an XML call that must succeed, checked well-formed.
  std::string ok_xml(const std::string& endpoint, const std::string& query = {}) {
    auto r = rest(endpoint, auth() + (query.empty() ? "" : "&" + query));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "text/xml; charset=utf-8");
    EXPECT_NE(r.body.find("<subsonic-response xmlns=\"http://subsonic.org/restapi\" status=\"ok\" version=\"1.16.1\""),
              std::string::npos)
        << r.body;
    expect_well_formed(r.body);
    return r.body;
  }

  static json::object response_of(const HttpResult& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("subsonic-response")) {
      ADD_FAILURE() << "not a subsonic-response: " << r.body;
      return {};
    }
    return v.as_object().at("subsonic-response").as_object();
  }

  // A JSON answer that must be the error `code`.
  static void expect_error(const HttpResult& r, int code) {
    EXPECT_EQ(r.status, 200) << r.body;
    auto root = response_of(r);
    EXPECT_EQ(json::serialize(root["status"]), "\"failed\"") << r.body;
    ASSERT_TRUE(root.contains("error")) << r.body;
    EXPECT_EQ(root["error"].at("code").as_int64(), code) << r.body;
    EXPECT_FALSE(root["error"].at("message").as_string().empty());
  }

  // With xmllint (libxml2-utils), when installed.
  void expect_well_formed(const std::string& xml) {
    if (std::system("command -v xmllint >/dev/null 2>&1") != 0) return;
    const auto path = dir_ / "answer.xml";
    std::ofstream(path, std::ios::binary) << xml;
    EXPECT_EQ(std::system(("xmllint --noout " + path.string() + " 2>/dev/null").c_str()), 0) << xml;
  }

  // Uploads a tagged WAV; its song id.
  std::string add_song(double hz, const std::string& title, const std::string& artist, const std::string& album,
                       const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    auto up = upload(token_, make_tagged_wav(hz, title, artist, album, extra), title + ".wav");
    EXPECT_EQ(up.status, 201) << up.body;
    return up.status == 201 ? std::string(up.json().at("id").as_string()) : std::string();
  }

  // The Subsonic ids of the library's albums and artists by name, as the
  // API lists them: "al-..." and "ar-...".
  void load_catalog_ids(std::map<std::string, std::string>& albums, std::map<std::string, std::string>& artists) {
    const auto album_list = get("/api/v1/albums", token_).json();
    for (const auto& a : album_list.at("items").as_array()) {
      albums[std::string(a.at("name").as_string())] = "al-" + std::string(a.at("id").as_string());
    }
    const auto artist_list = get("/api/v1/artists", token_).json();
    for (const auto& a : artist_list.at("items").as_array()) {
      artists[std::string(a.at("name").as_string())] = "ar-" + std::string(a.at("id").as_string());
    }
  }

  std::string token_;
  std::string app_password_;
};

}  // namespace hifi::testing
