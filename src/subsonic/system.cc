// ping, getLicense, getOpenSubsonicExtensions, tokenInfo, getScanStatus
// and startScan.
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
      {"getScanStatus", true, get_scan_status},
      {"startScan", true, get_scan_status},  // nothing to scan: the same answer
  };
}

}  // namespace hifi::subsonic
