// parse_server_config, parse_size and parse_duration.
#include "server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cores.h"

namespace hifi {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Every variable parse_server_config reads; each test starts with none set
// and the previous values are restored afterwards.
const char* const kEnvNames[] = {
    "HIFI_CONFIG",          "HIFI_LISTEN",         "HIFI_DATA_DIR",          "HIFI_THREADS",
    "HIFI_REGISTRATION",    "HIFI_MAX_UPLOAD_SIZE", "HIFI_MAX_HEADER_SIZE",  "HIFI_HEADER_TIMEOUT",
    "HIFI_BODY_IDLE_TIMEOUT", "HIFI_IDLE_TIMEOUT", "HIFI_MAX_CONNECTIONS",   "HIFI_TOKEN_TTL",
    "HIFI_SIGNED_URL_TTL",  "HIFI_SHUTDOWN_GRACE",  "HIFI_WEB_ROOT",         "HIFI_LOG_LEVEL",
    "HIFI_FORGET_DEAD_AFTER",
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kEnvNames) {
      if (const char* v = std::getenv(name)) saved_env_[name] = v;
      ::unsetenv(name);
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hifi-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    for (const char* name : kEnvNames) {
      auto it = saved_env_.find(name);
      if (it != saved_env_.end()) ::setenv(name, it->second.c_str(), 1);
      else ::unsetenv(name);
    }
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  struct Outcome {
    int code = -1;
    bool exit_now = false;
    ServerConfig config;
    std::string out, err;
  };

  // Runs parse_server_config on "hifi-server <args...>", capturing its output.
  Outcome parse(std::vector<std::string> args) {
    args.insert(args.begin(), "hifi-server");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    Outcome o;
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    o.code = parse_server_config(static_cast<int>(args.size()), argv.data(), o.config, o.exit_now);
    o.out = ::testing::internal::GetCapturedStdout();
    o.err = ::testing::internal::GetCapturedStderr();
    return o;
  }

  std::string write_file(const std::string& name, const std::string& text) {
    auto path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::map<std::string, std::string> saved_env_;
  std::string dir_;
};

// ---------------------------------------------------------------------------
// parse_size / parse_duration

TEST(ParseSize, AcceptsPlainNumbersAndBinaryUnits) {
  struct Case { const char* text; std::uint64_t bytes; } cases[] = {
      {"10", 10},
      {"0", 0},
      {"10B", 10},
      {"4K", 4096},
      {"4k", 4096},
      {"4KiB", 4096},
      {"512MiB", 512ULL << 20},
      {"3M", 3ULL << 20},
      {"1G", 1ULL << 30},
      {"2GiB", 2ULL << 30},
      {"1048576", 1048576},
      {"17179869183G", 17179869183ULL << 30},  // the largest whole number of GiB
  };
  for (const auto& c : cases) {
    auto bytes = parse_size(c.text);
    ASSERT_TRUE(bytes.is_ok()) << c.text;
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

TEST(ParseSize, RejectsMalformedAndOverflowingSizes) {
  for (const char* text : {"", "12XB", "MiB", "-1", "+1", "1.5G", " 1G", "1G ", "1 G", "1T",
                           "1MB", "1Gi", "0x10", "17179869184G",  // 2^64
                           "999999999999999999G", "9999999999999999999", "18446744073709551616"}) {
    EXPECT_EQ(parse_size(text).status().code(), Code::kInvalidArgument) << text;
  }
}

TEST(ParseDuration, AcceptsUnits) {
  struct Case { const char* text; std::int64_t ms; } cases[] = {
      {"250ms", 250},
      {"30s", 30'000},
      {"15m", 900'000},
      {"6h", 21'600'000},
      {"30d", 2'592'000'000},
      {"10", 10'000},  // no unit: seconds
      {"0s", 0},
  };
  for (const auto& c : cases) {
    auto ms = parse_duration(c.text);
    ASSERT_TRUE(ms.is_ok()) << c.text;
    EXPECT_EQ(*ms, c.ms) << c.text;
  }
}

TEST(ParseDuration, RejectsMalformedAndOverflowingDurations) {
  for (const char* text : {"", "3w", "s", "ms", "-1s", "1.5h", "1 s", "1S", "1sec", "h1",
                           "999999999999999999d",  // would overflow 64-bit milliseconds
                           "999999999999999999h"}) {
    EXPECT_EQ(parse_duration(text).status().code(), Code::kInvalidArgument) << text;
  }
  // Large but representable values still work.
  EXPECT_EQ(parse_duration("999999999999999999ms").value(), 999'999'999'999'999'999);
  EXPECT_EQ(parse_duration("100000000000d").value(), 100'000'000'000LL * 86'400'000);
}

// ---------------------------------------------------------------------------
// parse_server_config

TEST_F(ConfigTest, Defaults) {
  auto o = parse({});
  EXPECT_EQ(o.code, 0);
  EXPECT_FALSE(o.exit_now);
  const auto& c = o.config;
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 8080);
  EXPECT_EQ(c.data_dir, "./hifi-data");
  EXPECT_EQ(c.registration, RegistrationMode::kOpen);
  EXPECT_EQ(c.max_upload_bytes, 512ULL << 20);
  EXPECT_EQ(c.max_header_bytes, 16u << 10);
  EXPECT_EQ(c.header_timeout_ms, 30'000);
  EXPECT_EQ(c.body_idle_timeout_ms, 60'000);
  EXPECT_EQ(c.idle_timeout_ms, 60'000);
  EXPECT_EQ(c.token_ttl_ms, 30LL * 24 * 3600 * 1000);
  EXPECT_EQ(c.signed_url_ttl_ms, 3600LL * 1000);
  EXPECT_EQ(c.shutdown_grace_ms, 10'000);
  EXPECT_EQ(c.max_connections, 10'000u);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_TRUE(c.web_root.empty());
  EXPECT_EQ(c.threads, usable_cores());  // one per core this process may use
  EXPECT_EQ(c.transcode_cache_bytes, 1ULL << 30);
  EXPECT_EQ(c.max_transcodes, 0u);
}

// A server limited to one core (taskset -c 0) runs one network thread by
// default, not one per core of the machine.
TEST_F(ConfigTest, DefaultThreadsFollowTheCpuAffinity) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  ASSERT_EQ(::sched_getaffinity(0, sizeof mine, &mine), 0);
  int first = 0;
  while (!CPU_ISSET(first, &mine)) ++first;
  bool limited = false;
  unsigned threads = 0;
  std::thread pinned([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    limited = ::sched_setaffinity(0, sizeof one, &one) == 0;
    if (limited) threads = parse({}).config.threads;
  });
  pinned.join();
  if (!limited) GTEST_SKIP() << "this sandbox refuses sched_setaffinity";
  EXPECT_EQ(threads, 1u);
}

TEST_F(ConfigTest, TranscodeOptions) {
  auto o = parse({"--transcode-cache-size", "256MiB", "--max-transcodes", "3"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.config.transcode_cache_bytes, 256ULL << 20);
  EXPECT_EQ(o.config.max_transcodes, 3u);
  auto none = parse({"--transcode-cache-size", "0"});
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.config.transcode_cache_bytes, 0u);
  auto bad = parse({"--transcode-cache-size", "lots"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--transcode-cache-size"));
}

TEST_F(ConfigTest, ReadModeIsAnEnum) {
  EXPECT_EQ(parse({}).config.read_mode, ReadMode::kRedirect);
  auto proxy = parse({"--read-mode", "proxy"});
  ASSERT_EQ(proxy.code, 0) << proxy.err;
  EXPECT_EQ(proxy.config.read_mode, ReadMode::kProxy);
  auto bad = parse({"--read-mode", "mirror"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(bad.exit_now);
  for (auto mode : {ReadMode::kRedirect, ReadMode::kProxy}) {
    EXPECT_EQ(parse_read_mode(read_mode_name(mode)).value(), mode);
  }
  EXPECT_EQ(parse_read_mode("Proxy").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(fmt::format("{}", ReadMode::kProxy), "proxy");
}

TEST_F(ConfigTest, ForgetDeadAfterIsADurationOfAtLeastAMinute) {
  EXPECT_EQ(parse({}).config.forget_dead_after_ms, 24LL * 3600 * 1000);
  auto week = parse({"--forget-dead-after", "7d"});
  ASSERT_EQ(week.code, 0) << week.err;
  EXPECT_EQ(week.config.forget_dead_after_ms, 7LL * 24 * 3600 * 1000);
  ::setenv("HIFI_FORGET_DEAD_AFTER", "90m", 1);
  EXPECT_EQ(parse({}).config.forget_dead_after_ms, 90LL * 60 * 1000);
  for (const char* bad : {"30s", "0", "soon"}) {
    auto o = parse({"--forget-dead-after", bad});
    EXPECT_EQ(o.code, 2) << bad;
    EXPECT_TRUE(o.exit_now) << bad;
    EXPECT_THAT(o.err, HasSubstr("--forget-dead-after")) << bad;
  }
}

TEST_F(ConfigTest, HelpAndVersionExitWithZero) {
  auto help = parse({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(help.exit_now);
  EXPECT_THAT(help.out, HasSubstr("--listen"));
  EXPECT_THAT(help.out, HasSubstr("HIFI_LISTEN"));
  auto version = parse({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_TRUE(version.exit_now);
  EXPECT_THAT(version.out, HasSubstr("hifi-server"));
}

TEST_F(ConfigTest, CommandLineOptions) {
  auto o = parse({"--listen", "0.0.0.0:9000", "--data-dir", "/srv/hifi", "--registration",
                  "invite", "--max-upload-size", "1G", "--threads", "3", "--token-ttl", "12h",
                  "--signed-url-ttl=15m", "--idle-timeout", "250ms", "--header-timeout", "5s",
                  "--body-idle-timeout", "2m", "--shutdown-grace", "1s", "--max-header-size",
                  "8192", "--max-connections", "50", "--web-root", "/srv/web", "--log-level",
                  "debug"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_FALSE(o.exit_now);
  const auto& c = o.config;
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 9000);
  EXPECT_EQ(c.data_dir, "/srv/hifi");
  EXPECT_EQ(c.registration, RegistrationMode::kInvite);
  EXPECT_EQ(c.max_upload_bytes, 1ULL << 30);
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.token_ttl_ms, 12LL * 3600 * 1000);
  EXPECT_EQ(c.signed_url_ttl_ms, 15 * 60 * 1000);
  EXPECT_EQ(c.idle_timeout_ms, 250);
  EXPECT_EQ(c.header_timeout_ms, 5000);
  EXPECT_EQ(c.body_idle_timeout_ms, 120'000);
  EXPECT_EQ(c.shutdown_grace_ms, 1000);
  EXPECT_EQ(c.max_header_bytes, 8192u);
  EXPECT_EQ(c.max_connections, 50u);
  EXPECT_EQ(c.web_root, "/srv/web");
  EXPECT_EQ(c.log_level, "debug");
}

TEST_F(ConfigTest, ListenAcceptsBracketedIpv6AndPortZero) {
  auto v6 = parse({"--listen", "[::1]:8443"});
  ASSERT_EQ(v6.code, 0) << v6.err;
  EXPECT_EQ(v6.config.listen_host, "::1");
  EXPECT_EQ(v6.config.listen_port, 8443);
  auto any = parse({"--listen", "localhost:0"});
  ASSERT_EQ(any.code, 0) << any.err;
  EXPECT_EQ(any.config.listen_host, "localhost");
  EXPECT_EQ(any.config.listen_port, 0);
}

TEST_F(ConfigTest, InvalidListenIsAUsageError) {
  for (const char* listen : {"nonsense", "127.0.0.1", "127.0.0.1:", ":8080", "[]:8080",
                             "host:65536", "host:http", "host:-1", "host:80x"}) {
    auto o = parse({"--listen", listen});
    EXPECT_EQ(o.code, 2) << listen;
    EXPECT_TRUE(o.exit_now) << listen;
    EXPECT_THAT(o.err, HasSubstr("--listen")) << listen;
  }
}

TEST_F(ConfigTest, OtherInvalidValuesAreUsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"--max-upload-size", "12XB"},
      {"--max-upload-size", "0"},
      {"--token-ttl", "3w"},
      {"--idle-timeout", "soon"},
      {"--registration", "maybe"},
      {"--log-level", "loud"},
      {"--threads", "many"},
      {"--no-such-option"},
      {"stray-positional"},
      {"--listen"},  // missing value
  };
  for (const auto& args : cases) {
    auto o = parse(args);
    EXPECT_EQ(o.code, 2) << args[0];
    EXPECT_TRUE(o.exit_now) << args[0];
    EXPECT_FALSE(o.err.empty()) << args[0];
  }
}

TEST_F(ConfigTest, FileSettingsApply) {
  auto path = write_file("hifi.toml",
                         "listen = \"0.0.0.0:7000\"\n"
                         "data-dir = \"/var/lib/hifi\"\n"
                         "registration = \"invite\"\n"
                         "max-upload-size = \"1GiB\"\n"
                         "threads = 5\n"
                         "token-ttl = \"7d\"\n");
  auto o = parse({"--config", path});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_FALSE(o.exit_now);
  EXPECT_EQ(o.config.listen_host, "0.0.0.0");
  EXPECT_EQ(o.config.listen_port, 7000);
  EXPECT_EQ(o.config.data_dir, "/var/lib/hifi");
  EXPECT_EQ(o.config.registration, RegistrationMode::kInvite);
  EXPECT_EQ(o.config.max_upload_bytes, 1ULL << 30);
  EXPECT_EQ(o.config.threads, 5u);
  EXPECT_EQ(o.config.token_ttl_ms, 7LL * 24 * 3600 * 1000);
  // Settings the file does not mention keep their defaults.
  EXPECT_EQ(o.config.signed_url_ttl_ms, 3600LL * 1000);
  EXPECT_EQ(o.config.log_level, "info");

  // --config=path works too, and so does HIFI_CONFIG.
  auto eq = parse({"--config=" + path});
  ASSERT_EQ(eq.code, 0) << eq.err;
  EXPECT_EQ(eq.config.listen_port, 7000);
  ::setenv("HIFI_CONFIG", path.c_str(), 1);
  auto env = parse({});
  ASSERT_EQ(env.code, 0) << env.err;
  EXPECT_EQ(env.config.listen_port, 7000);
  EXPECT_EQ(env.config.data_dir, "/var/lib/hifi");
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndCommandLineOverridesEnvironment) {
  auto path = write_file("hifi.toml",
                         "listen = \"0.0.0.0:7000\"\n"
                         "data-dir = \"/from/file\"\n"
                         "registration = \"closed\"\n");
  ::setenv("HIFI_LISTEN", "127.0.0.2:7001", 1);
  ::setenv("HIFI_REGISTRATION", "invite", 1);
  auto env = parse({"--config", path});
  ASSERT_EQ(env.code, 0) << env.err;
  EXPECT_EQ(env.config.listen_host, "127.0.0.2");  // environment beats file
  EXPECT_EQ(env.config.listen_port, 7001);
  EXPECT_EQ(env.config.registration, RegistrationMode::kInvite);
  EXPECT_EQ(env.config.data_dir, "/from/file");  // file beats default

  auto cli = parse({"--config", path, "--listen", "127.0.0.3:7002", "--data-dir", "/from/cli"});
  ASSERT_EQ(cli.code, 0) << cli.err;
  EXPECT_EQ(cli.config.listen_host, "127.0.0.3");  // command line beats environment
  EXPECT_EQ(cli.config.listen_port, 7002);
  EXPECT_EQ(cli.config.data_dir, "/from/cli");     // and file
  EXPECT_EQ(cli.config.registration, RegistrationMode::kInvite);

  // Without a file, the environment beats the defaults.
  ::setenv("HIFI_DATA_DIR", "/from/env", 1);
  ::setenv("HIFI_TOKEN_TTL", "1h", 1);
  auto no_file = parse({});
  ASSERT_EQ(no_file.code, 0) << no_file.err;
  EXPECT_EQ(no_file.config.data_dir, "/from/env");
  EXPECT_EQ(no_file.config.token_ttl_ms, 3'600'000);
  EXPECT_EQ(no_file.config.listen_port, 7001);
}

TEST_F(ConfigTest, InvalidEnvironmentValueIsAUsageError) {
  ::setenv("HIFI_LISTEN", "not an address", 1);
  auto o = parse({});
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(o.exit_now);
  ::unsetenv("HIFI_LISTEN");
  ::setenv("HIFI_REGISTRATION", "sometimes", 1);
  o = parse({});
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(o.exit_now);
}

TEST_F(ConfigTest, UnknownFileSettingIsAUsageError) {
  auto path = write_file("hifi.toml", "listen = \"0.0.0.0:7000\"\nlisten-port = 80\n");
  auto o = parse({"--config", path});
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(o.exit_now);
  EXPECT_THAT(o.err, HasSubstr("listen-port"));

  // The file cannot name another file.
  auto nested = write_file("nested.toml", "config = \"/etc/other.toml\"\n");
  o = parse({"--config", nested});
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(o.exit_now);
}

TEST_F(ConfigTest, InvalidFileValuesAreUsageErrors) {
  struct Case { const char* name; const char* text; } cases[] = {
      {"bad-syntax.toml", "listen = \n"},
      {"bad-registration.toml", "registration = \"sometimes\"\n"},
      {"bad-size.toml", "max-upload-size = \"12XB\"\n"},
      {"bad-listen.toml", "listen = \"nowhere\"\n"},
      {"bad-type.toml", "threads = 1.5\n"},
      {"table.toml", "[server]\nlisten = \"0.0.0.0:1\"\n"},
  };
  for (const auto& c : cases) {
    auto o = parse({"--config", write_file(c.name, c.text)});
    EXPECT_EQ(o.code, 2) << c.name << ": " << o.err;
    EXPECT_TRUE(o.exit_now) << c.name;
    EXPECT_FALSE(o.err.empty()) << c.name;
  }
  // A file that does not exist.
  auto missing = parse({"--config", dir_ + "/missing.toml"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_TRUE(missing.exit_now);
}

}  // namespace
}  // namespace hifi

namespace hifi {
namespace {

TEST_F(ConfigTest, AnOptionGivenTwiceTakesItsLastValueAndListsKeepEveryItem) {
  ::setenv("HIFI_CLUSTER_SECRET", "config-test-secret-0123456789", 1);
  auto o = parse({"--replicas", "2", "--replicas", "3", "--etcd", "http://a:2379,http://b:2379", "--etcd",
                  "http://c:2379", "--scale-max", "3", "--scale-target-listeners", "10", "--scale-local-ports",
                  "8090-8099"});
  ::unsetenv("HIFI_CLUSTER_SECRET");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.config.replicas, 3);
  EXPECT_EQ(o.config.etcd_endpoints, (std::vector<std::string>{"http://a:2379", "http://b:2379", "http://c:2379"}));
  EXPECT_EQ(o.config.scale_first_port, 8090);
  EXPECT_EQ(o.config.scale_last_port, 8099);
  EXPECT_EQ(o.config.argv.size(), 14u);
}

TEST_F(ConfigTest, BadScalingSettingsAreRefusedAtStart) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--scale-min", "3", "--scale-max", "2"},
           {"--scale-target-cpu", "2"},
           {"--scale-target-listeners", "-1"},
           {"--scale-target-streams", "0"},
           {"--scale-local-ports", "9000-8000"},
           {"--scale-provisioner", "cloud"},
           {"--scale-provisioner", "local"},  // without --etcd
       }) {
    auto o = parse(args);
    EXPECT_EQ(o.code, 2) << args[0] << " " << args[1];
    EXPECT_FALSE(o.err.empty());
  }
}

}  // namespace
}  // namespace hifi
