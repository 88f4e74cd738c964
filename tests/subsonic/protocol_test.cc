// The Subsonic protocol itself: the envelope in XML, JSON and JSONP, .view
// names, POST forms, parameter limits, and the errors of unknown,
// unsupported and malformed requests.
#include "subsonic/document.h"
#include "subsonic/params.h"
#include "subsonic_fixture.h"

namespace hifi::testing {
namespace {

using subsonic::Element;
using subsonic::Format;
using subsonic::Params;

TEST(SubsonicParams, DecodesFormsAndKeepsRepeatedNames) {
  Params p;
  ASSERT_TRUE(p.add_encoded("id=1&id=2&query=a+b%20c&empty&x=%C3%A9&&").is_ok());
  EXPECT_EQ(p.all("id"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(p.get("query"), "a b c");
  EXPECT_EQ(p.get("empty"), "");
  EXPECT_EQ(p.get("x"), "\xc3\xa9");
  EXPECT_FALSE(p.get("missing"));
}

TEST(SubsonicParams, RejectsMalformedAndOversizedInput) {
  Params p;
  EXPECT_EQ(p.add_encoded("a=%zz").code(), Code::kInvalidArgument);
  EXPECT_EQ(p.add_encoded("a=%4").code(), Code::kInvalidArgument);
  EXPECT_EQ(p.add_encoded("=value").code(), Code::kInvalidArgument);
  EXPECT_EQ(p.add_encoded("a=" + std::string(subsonic::kMaxParamValueBytes + 1, 'x')).code(),
            Code::kResourceExhausted);
  EXPECT_EQ(p.add_encoded(std::string(subsonic::kMaxParamNameBytes + 1, 'n') + "=1").code(),
            Code::kResourceExhausted);
  std::string many;
  for (std::size_t i = 0; i <= subsonic::kMaxParams; ++i) many += "a=1&";
  EXPECT_EQ(p.add_encoded(many).code(), Code::kResourceExhausted);
  EXPECT_FALSE(p.has("a"));  // nothing of a refused text is kept
}

TEST(SubsonicParams, TypedValuesNameTheParameter) {
  Params p;
  ASSERT_TRUE(p.add_encoded("n=42&bad=4x&big=900&flag=TRUE&no=maybe").is_ok());
  EXPECT_EQ(*p.integer("n", 0, 100, 7), 42);
  EXPECT_EQ(*p.integer("absent", 0, 100, 7), 7);
  EXPECT_NE(p.integer("bad", 0, 100, 7).error().message.find("'bad'"), std::string::npos);
  EXPECT_FALSE(p.integer("big", 0, 500, 7));
  EXPECT_EQ(p.required("absent").error().code, subsonic::ErrorCode::kMissingParameter);
  EXPECT_EQ(p.required_integer("absent", 0, 1).error().code, subsonic::ErrorCode::kMissingParameter);
  EXPECT_TRUE(*p.boolean("flag", false));
  EXPECT_FALSE(p.boolean("no", false));
}

TEST(SubsonicDocument, ListsAreArraysInJsonWhateverTheirLength) {
  Element list("albumList2");
  list.add(Element::item("album").set("id", "al-1").set("songCount", 3).set("starred", false));
  auto json = subsonic::render_ok({list}, Format::kJson);
  EXPECT_EQ(json.body,
            "{\"subsonic-response\":{\"status\":\"ok\",\"version\":\"1.16.1\",\"type\":\"hifi\",\"serverVersion\":"
            "\"0.1.0\",\"openSubsonic\":true,\"albumList2\":{\"album\":[{\"id\":\"al-1\",\"songCount\":3,"
            "\"starred\":false}]}}}");
  auto xml = subsonic::render_ok({list}, Format::kXml);
  EXPECT_EQ(xml.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<subsonic-response xmlns=\"http://subsonic.org/restapi\" "
            "status=\"ok\" version=\"1.16.1\" type=\"hifi\" serverVersion=\"0.1.0\" openSubsonic=\"true\">"
            "<albumList2><album id=\"al-1\" songCount=\"3\" starred=\"false\"/></albumList2></subsonic-response>");
}

TEST(SubsonicDocument, TextBecomesValueAndXmlIsEscaped) {
  Element genres("genres");
  genres.add(Element::item("genre").set("songCount", 2).text("Rock & <Roll>\x01\"'"));
  auto json = subsonic::render_ok({genres}, Format::kJson);
  EXPECT_NE(json.body.find("\"genre\":[{\"songCount\":2,\"value\":\"Rock & <Roll>\\u0001\\\"'\"}]"),
            std::string::npos)
      << json.body;
  auto xml = subsonic::render_ok({genres}, Format::kXml);
  EXPECT_NE(xml.body.find("<genre songCount=\"2\">Rock &amp; &lt;Roll&gt;&quot;&#39;</genre>"), std::string::npos)
      << xml.body;
}

TEST(SubsonicDocument, JsonpCallbacksAreIdentifiers) {
  for (const char* ok : {"cb", "jQuery_123", "$x", "a.b.c", "_"}) EXPECT_TRUE(subsonic::valid_jsonp_callback(ok)) << ok;
  for (const char* bad : {"", "1a", "a-b", "a..b", "a.", "alert(1)", "a b", "a;b", "a[0]"}) {
    EXPECT_FALSE(subsonic::valid_jsonp_callback(bad)) << bad;
  }
  EXPECT_FALSE(subsonic::valid_jsonp_callback(std::string(129, 'a')));
}

TEST_F(SubsonicTest, PingInEveryFormatWithAndWithoutView) {
  ok_xml("ping");
  ok_xml("ping.view");
  auto root = ok_json("ping.view");
  EXPECT_EQ(root["version"], "1.16.1");
  EXPECT_EQ(root["type"], "hifi");
  EXPECT_EQ(root["serverVersion"], "0.1.0");
  EXPECT_EQ(root["openSubsonic"], true);
  EXPECT_FALSE(root.contains("error"));

  auto jsonp = rest("ping", auth() + "&f=jsonp&callback=handle.it");
  EXPECT_EQ(jsonp.status, 200);
  EXPECT_EQ(jsonp.header("content-type"), "application/javascript; charset=utf-8");
  EXPECT_EQ(jsonp.body.rfind("handle.it({\"subsonic-response\":{\"status\":\"ok\"", 0), 0u) << jsonp.body;
  EXPECT_EQ(jsonp.body.substr(jsonp.body.size() - 3), "});");
  // A bad or missing callback is an error in plain JSON: nothing is echoed as script.
  auto bad = rest("ping", auth() + "&f=jsonp&callback=alert(document.cookie)");
  EXPECT_EQ(bad.header("content-type"), "application/json");
  expect_error(bad, 0);
  expect_error(rest("ping", auth() + "&f=jsonp"), 10);
  // An unknown format: the error comes as XML, the default.
  auto unknown = rest("ping", auth() + "&f=yaml");
  EXPECT_NE(unknown.body.find("<error code=\"0\""), std::string::npos) << unknown.body;
}

TEST_F(SubsonicTest, PostFormBodiesCarryParametersAndCredentials) {
  std::map<std::string, std::string> form{{"Content-Type", "application/x-www-form-urlencoded"}};
  auto r = server_->request(V::post, "/rest/ping.view", auth() + "&f=json&v=1.16.1&c=tests", form);
  EXPECT_EQ(json::serialize(response_of(r)["status"]), "\"ok\"") << r.body;
  // The format may also be in the query while credentials are in the body.
  r = server_->request(V::post, "/rest/getLicense?f=json", auth(), form);
  EXPECT_EQ(response_of(r)["license"].at("valid"), true) << r.body;
  // Other bodies are refused; so is one past the limit.
  r = server_->request(V::post, "/rest/ping?f=json", "{}", {{"Content-Type", "application/json"}});
  expect_error(r, 0);
  r = server_->request(V::post, "/rest/ping?f=json", "a=" + std::string(70 * 1024, 'x'), form);
  expect_error(r, 0);
  EXPECT_NE(r.body.find("64 KiB"), std::string::npos);
  r = server_->request(V::post, "/rest/ping?f=json", "a=%zz", form);
  expect_error(r, 0);
}

TEST_F(SubsonicTest, MissingParametersUnknownAndUnsupportedEndpoints) {
  expect_error(rest("getAlbum", auth() + "&f=json"), 10);
  expect_error(rest("getSong", auth() + "&f=json&id=" + std::string(32, '0')), 70);
  auto unknown = rest("frobnicate", auth() + "&f=json");
  expect_error(unknown, 70);
  EXPECT_NE(unknown.body.find("frobnicate"), std::string::npos);
  for (const char* name : {"getPodcasts", "getInternetRadioStations", "getChatMessages", "getVideos", "hls",
                           "createPodcastChannel", "getInternetRadioStations"}) {
    auto r = rest(name, auth() + "&f=json");
    expect_error(r, 0);
    EXPECT_NE(r.body.find("not support"), std::string::npos) << r.body;
  }
  // Credentials are checked first.
  expect_error(rest("getPodcasts", "u=alice&p=wrong-password&f=json"), 40);
}

TEST_F(SubsonicTest, RouterErrorsUnderRestAreSubsonicEnvelopes) {
  auto deep = rest("ping/extra", auth() + "&f=json");
  expect_error(deep, 70);
  auto xml = server_->request(V::get, "/rest/a/b/c");
  EXPECT_EQ(xml.status, 200);
  EXPECT_EQ(xml.header("content-type"), "text/xml; charset=utf-8");
  EXPECT_NE(xml.body.find("status=\"failed\""), std::string::npos) << xml.body;
  EXPECT_NE(xml.body.find("<error code=\"70\""), std::string::npos) << xml.body;
  auto put = server_->request(V::put, "/rest/ping?f=json", "x");
  expect_error(put, 0);
  // Never the web app's index.html.
  EXPECT_EQ(server_->request(V::get, "/rest/").body.find("<html"), std::string::npos);
}

TEST_F(SubsonicTest, TooManyParametersAreRefused) {
  std::string many;
  for (int i = 0; i < 300; ++i) many += "x=1&";
  // The format is among what could not be read, so the error is XML.
  auto r = rest("ping", many + auth() + "&f=json");
  EXPECT_EQ(r.header("content-type"), "text/xml; charset=utf-8");
  EXPECT_NE(r.body.find("<error code=\"0\" message=\"a request may have at most 256 parameters"), std::string::npos)
      << r.body;
}

TEST_F(SubsonicTest, ExtensionsNeedNoCredentialsAndLicenseIsValid) {
  auto r = rest("getOpenSubsonicExtensions", "f=json");
  auto root = response_of(r);
  ASSERT_EQ(json::serialize(root["status"]), "\"ok\"") << r.body;
  std::set<std::string> names;
  for (const auto& e : root["openSubsonicExtensions"].as_array()) {
    names.insert(std::string(e.at("name").as_string()));
    EXPECT_EQ(e.at("versions"), json::array{1});
  }
  EXPECT_EQ(names, (std::set<std::string>{"formPost", "apiKeyAuthentication", "transcodeOffset", "songLyrics"}));
  auto xml = server_->request(V::get, "/rest/getOpenSubsonicExtensions.view");
  EXPECT_NE(xml.body.find("<openSubsonicExtensions name=\"formPost\"><versions>1</versions></openSubsonicExtensions>"),
            std::string::npos)
      << xml.body;
  expect_well_formed(xml.body);
  EXPECT_EQ(ok_json("getLicense")["license"].at("valid"), true);
  EXPECT_NE(ok_xml("getLicense").find("<license valid=\"true\"/>"), std::string::npos);
}

}  // namespace
}  // namespace hifi::testing
