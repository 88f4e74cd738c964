#include "client/config_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace hifi::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Sets an environment variable for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class ConfigStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hifi-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  }

  static StoredConfig must_load() {
    auto config = load_config();
    EXPECT_TRUE(config.is_ok()) << config.status().to_string();
    return config.is_ok() ? *config : StoredConfig{};
  }

  // The message of a load that must fail.
  static std::string load_error() {
    auto config = load_config();
    EXPECT_FALSE(config.is_ok());
    return config.is_ok() ? std::string() : config.status().message();
  }

  fs::path dir_;
};

TEST_F(ConfigStoreTest, PathFollowsXdgConfigHomeOrHome) {
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", (dir_ / "xdg").string());
    EXPECT_EQ(config_path(), (dir_ / "xdg" / "hifi" / "config.json").string());
  }
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", std::nullopt);
    ScopedEnv home("HOME", (dir_ / "home").string());
    EXPECT_EQ(config_path(), (dir_ / "home" / ".config" / "hifi" / "config.json").string());
  }
  {
    // Relative XDG paths are invalid per the spec and ignored.
    ScopedEnv xdg("XDG_CONFIG_HOME", "relative/dir");
    ScopedEnv home("HOME", (dir_ / "home").string());
    EXPECT_EQ(config_path(), (dir_ / "home" / ".config" / "hifi" / "config.json").string());
  }
}

TEST_F(ConfigStoreTest, MissingFileIsAnEmptyConfig) {
  ScopedEnv xdg("XDG_CONFIG_HOME", (dir_ / "nothing-here").string());
  StoredConfig config = must_load();
  EXPECT_TRUE(config.servers.empty());
  EXPECT_TRUE(config.token.empty());
  EXPECT_TRUE(config.username.empty());
}

TEST_F(ConfigStoreTest, RoundTripWithPrivateModes) {
  ScopedEnv xdg("XDG_CONFIG_HOME", (dir_ / "xdg").string());
  StoredConfig config;
  config.servers = {"http://a.example:8080", "http://b.example:8080"};
  config.token = "secret-token";
  config.username = "alice";
  ASSERT_TRUE(save_config(config).is_ok());

  const fs::path file = config_path();
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);
  // No temporary files are left behind.
  std::size_t entries = 0;
  for (auto& e : fs::directory_iterator(file.parent_path())) entries += 1, (void)e;
  EXPECT_EQ(entries, 1u);

  StoredConfig loaded = must_load();
  EXPECT_EQ(loaded.servers, config.servers);
  EXPECT_EQ(loaded.token, "secret-token");
  EXPECT_EQ(loaded.username, "alice");

  // Overwriting replaces the whole file, still 0600.
  config.servers = {"http://c.example"};
  config.token.clear();
  ASSERT_TRUE(save_config(config).is_ok());
  EXPECT_EQ(mode_of(file), 0600u);
  loaded = must_load();
  EXPECT_EQ(loaded.servers, std::vector<std::string>{"http://c.example"});
  EXPECT_EQ(loaded.token, "");
  EXPECT_EQ(loaded.username, "alice");
}

TEST_F(ConfigStoreTest, LearnedClusterMembersRoundTrip) {
  ScopedEnv xdg("XDG_CONFIG_HOME", (dir_ / "xdg").string());
  StoredConfig config;
  config.servers = {"http://a.example:8080"};
  config.token = "t";
  config.members = {"http://a.example:8080", "http://10.0.0.6:8080", "http://10.0.0.7:8080"};
  ASSERT_TRUE(save_config(config).is_ok());
  StoredConfig loaded = must_load();
  EXPECT_EQ(loaded.members, config.members);
  EXPECT_EQ(loaded.servers, config.servers);

  // A file from before clusters has none; a malformed list is an error.
  fs::create_directories(dir_ / "xdg" / "hifi");
  { std::ofstream(config_path()) << R"({"servers": ["http://a"], "token": "t", "username": "u"})"; }
  loaded = must_load();
  EXPECT_TRUE(loaded.members.empty());
  { std::ofstream(config_path()) << R"({"servers": ["http://a"], "members": ["http://b", 3]})"; }
  EXPECT_THAT(load_error(), HasSubstr("members"));
}

TEST_F(ConfigStoreTest, MalformedFileIsAnError) {
  ScopedEnv xdg("XDG_CONFIG_HOME", (dir_ / "xdg").string());
  fs::create_directories(dir_ / "xdg" / "hifi");
  StoredConfig config;
  { std::ofstream(config_path()) << "{not json"; }
  EXPECT_THAT(load_error(), HasSubstr("config.json"));

  { std::ofstream(config_path()) << R"({"servers": "http://a", "token": "t"})"; }
  EXPECT_THAT(load_error(), HasSubstr("servers"));

  { std::ofstream(config_path()) << R"({"servers": ["http://a"], "token": 5})"; }
  EXPECT_THAT(load_error(), HasSubstr("token"));

  // Unknown fields are fine; missing ones are empty.
  { std::ofstream(config_path()) << R"({"servers": ["http://a"], "future": 1})"; }
  config = must_load();
  EXPECT_EQ(config.servers, std::vector<std::string>{"http://a"});
  EXPECT_TRUE(config.token.empty());
}

}  // namespace
}  // namespace hifi::client
