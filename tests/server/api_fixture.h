// ApiTest: a fixture for integration tests of the REST API, with one
// in-process server bound to port 0 and helpers to register, upload and
// check problem+json answers.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "media/decoder.h"
#include "server/test_server.h"

namespace hifi::testing {

using V = http::verb;
namespace json = boost::json;

inline std::string body_of(const json::object& o) { return json::serialize(o); }

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { make_server(); }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void make_server(ServerConfig config = {}, AccountOptions accounts = {}) {
    server_.reset();
    if (dir_.empty()) dir_ = fresh_dir("api");
    if (config.max_upload_bytes == (512ULL << 20)) config.max_upload_bytes = 1 << 20;
    server_ = std::make_unique<TestServer>(dir_, config, accounts);
  }

  HttpResult post_json(const std::string& target, const json::object& body,
                       const std::string& token = {}) {
    std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return server_->request(V::post, target, body_of(body), headers);
  }

  HttpResult get(const std::string& target, const std::string& token,
                 std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return server_->request(V::get, target, {}, headers);
  }

  // A request with the caller's token and, when not empty, a JSON body.
  HttpResult send(V verb, const std::string& target, const std::string& token, const json::object& body = {}) {
    std::map<std::string, std::string> headers{{"Authorization", "Bearer " + token}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return server_->request(verb, target, body.empty() ? std::string() : body_of(body), headers);
  }

  std::string register_and_login(const std::string& name, const std::string& password = "correct horse") {
    auto r = post_json("/api/v1/auth/register", {{"username", name}, {"password", password}});
    EXPECT_EQ(r.status, 201) << r.body;
    auto l = post_json("/api/v1/auth/login", {{"username", name}, {"password", password}});
    EXPECT_EQ(l.status, 200) << l.body;
    return std::string(l.json().at("token").as_string());
  }

  HttpResult upload(const std::string& token, const std::string& bytes, const std::string& filename,
                    std::map<std::string, std::string> headers = {}) {
    headers["Authorization"] = "Bearer " + token;
    if (!headers.count("Content-Type")) headers["Content-Type"] = "audio/wav";
    headers["X-Filename"] = filename;
    return server_->request(V::post, "/api/v1/songs", bytes, headers);
  }

  static void expect_problem(const HttpResult& r, int status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
    auto j = r.json().as_object();
    EXPECT_EQ(j.at("type").as_string(), "urn:hifi:problem:" + type) << r.body;
    EXPECT_EQ(j.at("status").as_int64(), status);
    EXPECT_TRUE(j.contains("title"));
    EXPECT_TRUE(j.contains("detail"));
  }

  // Frames of `bytes` decoded by HiFi's own decoder at 48 kHz; 0 when they
  // do not decode.
  std::uint64_t decoded_frames(const std::string& bytes) {
    const auto path = (dir_ / "decoded.bin").string();
    std::ofstream(path, std::ios::binary) << bytes;
    media::AudioDecoder decoder(media::AudioFormat{48000, 2});
    if (!decoder.open(path, nullptr, nullptr)) return 0;
    std::vector<std::int16_t> pcm;
    bool ended = false;
    while (!ended) {
      pcm.clear();
      if (!decoder.decode(pcm, 1 << 16, &ended)) return 0;
    }
    return decoder.frames();
  }

  std::size_t temp_files() const {
    std::size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir_ / "tmp")) n += e.is_regular_file();
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<TestServer> server_;
};

}  // namespace hifi::testing
