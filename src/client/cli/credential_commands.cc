// `hifi app-passwords` and `hifi api-keys`: create (the secret is shown
// once), list (with last use) and revoke the credentials Subsonic apps use.
#include <boost/json.hpp>
#include <ctime>
#include <iostream>

#include "client/cli/commands.h"

namespace hifi::client {
namespace json = boost::json;
namespace {

struct KindInfo {
  const char* path;    // under /api/v1/me/
  const char* secret;  // the field of the creation answer
  const char* noun;
};

KindInfo info(CredentialCommandKind kind) {
  return kind == CredentialCommandKind::kAppPassword ? KindInfo{"app-passwords", "password", "app password"}
                                                     : KindInfo{"api-keys", "key", "API key"};
}

}  // namespace

std::string local_time(const json::value& ms) {
  if (!ms.is_int64()) return "never";
  const std::time_t secs = static_cast<std::time_t>(ms.as_int64() / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

int cmd_credential_create(CliContext& ctx, CredentialCommandKind kind, const std::string& name) {
  if (!require_login(ctx)) return kExitAuth;
  const auto k = info(kind);
  json::value body = {{"name", name}};
  auto r = ctx.api->json("POST", std::string("/api/v1/me/") + k.path, &body);
  if (!r) return fail(r.error, std::string("could not create the ") + k.noun);
  if (ctx.json) {
    std::cout << json::serialize(*r) << "\n";
    return kExitOk;
  }
  std::cout << "Created " << k.noun << " " << str(r->at("id")) << " (" << str(r->at("name")) << "):\n\n  "
            << str(r->at(k.secret)) << "\n\n"
            << "It is shown only now. In the Subsonic app, enter the server's address, your user name and ";
  if (kind == CredentialCommandKind::kAppPassword) {
    std::cout << "this as the password.\n";
  } else {
    std::cout << "this as the API key.\n";
  }
  return kExitOk;
}

int cmd_credential_list(CliContext& ctx, CredentialCommandKind kind) {
  if (!require_login(ctx)) return kExitAuth;
  const auto k = info(kind);
  auto r = ctx.api->json("GET", std::string("/api/v1/me/") + k.path);
  if (!r) return fail(r.error, std::string("could not list your ") + k.noun + "s");
  const auto& items = r->at("items").as_array();
  if (ctx.json) {
    std::cout << json::serialize(items) << "\n";
    return kExitOk;
  }
  if (items.empty()) {
    std::cout << "No " << k.noun << "s yet: hifi " << k.path << " create NAME\n";
    return kExitOk;
  }
  std::printf("%-16s  %-32s  %-16s  %s\n", "ID", "NAME", "CREATED", "LAST USED");
  for (const auto& item : items) {
    std::printf("%-16s  %-32s  %-16s  %s\n", str(item.at("id")).c_str(), str(item.at("name")).c_str(),
                local_time(item.at("created_at")).c_str(), local_time(item.at("last_used_at")).c_str());
  }
  return kExitOk;
}

int cmd_credential_revoke(CliContext& ctx, CredentialCommandKind kind, const std::string& id) {
  if (!require_login(ctx)) return kExitAuth;
  const auto k = info(kind);
  auto r = ctx.api->request("DELETE", std::string("/api/v1/me/") + k.path + "/" + url_encode(id));
  if (!r) return fail(r.error, std::string("could not revoke the ") + k.noun);
  if (!ctx.json) std::cout << "Revoked " << k.noun << " " << id << ": apps using it are signed out.\n";
  return kExitOk;
}

}  // namespace hifi::client
