// ping, getLicense, getOpenSubsonicExtensions, tokenInfo, getUser,
// getScanStatus and startScan.
#include "common/text.h"
#include "subsonic/endpoints.h"
#include "subsonic/ids.h"

namespace hifi::subsonic {
namespace {

Expected<Body> ping(const Call&) { return Body{}; }

Expected<Body> get_license(const Call&) { return Body{Element("license").set("valid", true)}; }

// The OpenSubsonic extensions HiFi implements, each at version 1.
Expected<Body> get_extensions(const Call&) {
  Body out;
  for (const char* name : {"formPost", "apiKeyAuthentication", "transcodeOffset", "songLyrics"}) {
    out.push_back(Element::item("openSubsonicExtensions").set("name", name).add(Element::item("versions").text(1)));
  }
  return out;
}

Expected<Body> token_info(const Call& call) {
  return Body{Element("tokenInfo").set("username", call.caller.user.username)};
}

// The roles say what HiFi lets every account do through Subsonic: stream
// and download; the rest is done in HiFi itself.
Expected<Body> get_user(const Call& call) {
  auto name = call.params.required("username");
  if (!name) return name.error();
  const auto& me = call.caller.user;
  User user = me;
  if (fold_for_search(*name) != fold_for_search(me.username)) {
    if (!me.is_admin()) return Error{ErrorCode::kNotAuthorized, "only an admin may look at another user"};
    auto state = call.accounts.account_state_by_name(*name);
    if (!state) return error_from_status(state.status());
    user = state->user;
  }
  Element e("user");
  e.set("username", user.username).set("email", "").set("scrobblingEnabled", false);
  e.set("adminRole", user.is_admin()).set("settingsRole", false).set("downloadRole", true).set("uploadRole", false);
  e.set("playlistRole", false).set("coverArtRole", false).set("commentRole", false).set("podcastRole", false);
  e.set("streamRole", true).set("jukeboxRole", false).set("shareRole", false).set("videoConversionRole", false);
  e.add(Element::item("folder").text(kMusicFolderId));
  return Body{std::move(e)};
}

// HiFi has no scans: songs join the library as they are uploaded.
Expected<Body> get_scan_status(const Call& call) {
  return Body{Element("scanStatus").set("scanning", false).set("count", call.catalog.size())};
}

}  // namespace

std::vector<Endpoint> system_endpoints() {
  return {
      {"ping", true, ping},
      {"getLicense", true, get_license},
      {"getOpenSubsonicExtensions", false, get_extensions},
      {"tokenInfo", true, token_info},
      {"getUser", true, get_user},
      {"getScanStatus", true, get_scan_status},
      {"startScan", true, get_scan_status},  // nothing to scan: the same answer
  };
}

}  // namespace hifi::subsonic
