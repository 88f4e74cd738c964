#include "client/config_store.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace hifi::client {
namespace json = boost::json;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string home_dir() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return ".";
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p; directories it creates get mode 0700. Existing ones are left as
// they are.
Status make_dirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::ok();
    return io_error(dir + " exists and is not a directory");
  }
  if (errno != ENOENT) return io_error("cannot access " + dir + ": " + errno_text(errno));
  const auto parent = parent_of(dir);
  if (parent != dir) {
    if (Status s = make_dirs(parent); !s) return s;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return io_error("cannot create " + dir + ": " + errno_text(errno));
  }
  return Status::ok();
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::string config_path() {
  std::string base;
  // The XDG spec says relative paths in XDG_* variables are invalid: ignore them.
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && xdg[0] == '/') {
    base = xdg;
  } else {
    base = home_dir() + "/.config";
  }
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + "/hifi/config.json";
}

Result<StoredConfig> load_config() {
  const auto path = config_path();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return StoredConfig{};
    return io_error("cannot open " + path + ": " + errno_text(errno));
  }
  std::string text;
  char buf[8192];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status failure = io_error("cannot read " + path + ": " + errno_text(errno));
      ::close(fd);
      return failure;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > (1u << 20)) {
      ::close(fd);
      return invalid_argument(path + " is too large to be a HiFi config file");
    }
  }
  ::close(fd);

  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec) return invalid_argument(path + " is not valid JSON: " + ec.message());
  if (!value.is_object()) return invalid_argument(path + ": expected a JSON object");
  const auto& o = value.as_object();
  StoredConfig out;
  for (auto [key, field] :
       {std::pair<const char*, std::vector<std::string>*>{"servers", &out.servers},
        std::pair<const char*, std::vector<std::string>*>{"members", &out.members}}) {
    auto* list = o.if_contains(key);
    if (!list || list->is_null()) continue;
    const bool strings = list->is_array() && std::all_of(list->as_array().begin(), list->as_array().end(),
                                                         [](const json::value& v) { return v.is_string(); });
    if (!strings) return invalid_argument(path + ": \"" + key + "\" must be an array of URLs");
    for (const auto& s : list->as_array()) field->emplace_back(s.as_string());
  }
  for (auto [key, field] : {std::pair<const char*, std::string*>{"token", &out.token},
                            std::pair<const char*, std::string*>{"username", &out.username},
                            std::pair<const char*, std::string*>{"ca_file", &out.ca_file}}) {
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) continue;
    if (!v->is_string()) return invalid_argument(path + ": \"" + key + "\" must be a string");
    *field = std::string(v->as_string());
  }
  return out;
}

Status save_config(const StoredConfig& config) {
  const auto path = config_path();
  const auto dir = parent_of(path);
  if (Status s = make_dirs(dir); !s) return s;

  json::array servers, members;
  for (const auto& s : config.servers) servers.emplace_back(s);
  for (const auto& m : config.members) members.emplace_back(m);
  json::object o{{"servers", std::move(servers)},
                 {"token", config.token},
                 {"username", config.username},
                 {"members", std::move(members)}};
  if (!config.ca_file.empty()) o["ca_file"] = config.ca_file;
  const auto text = json::serialize(o) + "\n";

  static std::atomic<unsigned> counter{0};
  const auto tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create " + tmp + ": " + errno_text(errno));
  auto fail = [&](const std::string& what) {
    Status failure = io_error(what + " " + tmp + ": " + errno_text(errno));
    ::close(fd);
    ::unlink(tmp.c_str());
    return failure;
  };
  // The umask cannot widen 0600, but be explicit: the file holds a token.
  if (::fchmod(fd, 0600) != 0) return fail("cannot chmod");
  if (!write_all(fd, text)) return fail("cannot write");
  if (::fsync(fd) != 0) return fail("cannot sync");
  if (::close(fd) != 0) {
    Status failure = io_error("cannot write " + tmp + ": " + errno_text(errno));
    ::unlink(tmp.c_str());
    return failure;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status failure = io_error("cannot replace " + path + ": " + errno_text(errno));
    ::unlink(tmp.c_str());
    return failure;
  }
  // Make the rename itself durable.
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

}  // namespace hifi::client
