// The CLI's remembered settings: servers, token, user name and the cluster
// members learned through the servers, kept in
// $XDG_CONFIG_HOME/hifi/config.json (default ~/.config/hifi/config.json),
// written atomically with mode 0600 because it holds a login token.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hifi::client {

struct StoredConfig {
  std::vector<std::string> servers;
  std::string token;
  std::string username;
  // Cluster members learned from GET /api/v1/cluster through `servers`
  // (advertised URLs), tried after them when they do not answer.
  std::vector<std::string> members;
  // The --ca-file given when logging in (absolute), used when a later run
  // gives none.
  std::string ca_file;
};

// The config file's path (the directory may not exist yet).
std::string config_path();
// Missing file: an empty config. Unreadable: kIoError; malformed (not JSON,
// fields of the wrong type, too large): kInvalidArgument. The message names
// the file.
Result<StoredConfig> load_config();
// Replaces the file atomically (mode 0600, directories 0700); kIoError when
// it cannot.
Status save_config(const StoredConfig& config);

}  // namespace hifi::client
