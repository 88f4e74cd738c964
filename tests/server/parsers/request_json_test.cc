#include "server/request_json.h"

#include <gtest/gtest.h>

#include <string>

namespace hifi {
namespace {

boost::json::object parse_ok(std::string_view body) {
  auto r = parse_json_object(body);
  EXPECT_TRUE(r.is_ok()) << body << ": " << r.status().to_string();
  if (!r) return {};
  return std::move(r).value();
}

TEST(ParseJsonObjectTest, Object) {
  const auto o = parse_ok(R"({"a": 1, "b": "x", "c": [true, null]})");
  EXPECT_EQ(o.size(), 3u);
}

TEST(ParseJsonObjectTest, NotJson) {
  for (std::string_view body : {"", "{", "{\"a\":}", "{'a': 1}", "{\"a\": 1,}", "{} {}",
                                "{\"a\": 1} x", "{\"a\": NaN}", "{/*c*/}", "{\"a\":\"\xff\"}"}) {
    auto r = parse_json_object(body);
    ASSERT_FALSE(r.is_ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << body;
    EXPECT_EQ(r.status().message().rfind("request body is not valid JSON: ", 0), 0u)
        << r.status().message();
    EXPECT_GT(r.status().message().size(), std::string("request body is not valid JSON: ").size());
  }
}

TEST(ParseJsonObjectTest, NumbersBeyondDoubleAreRejected) {
  for (std::string_view body :
       {R"({"a": 1e400})", R"({"a": [-1e400]})", R"({"a": {"b": 9e999999}})"}) {
    auto r = parse_json_object(body);
    ASSERT_FALSE(r.is_ok()) << body;
    EXPECT_EQ(r.status().message(), "request body is not valid JSON: number out of range");
  }
  EXPECT_TRUE(parse_json_object(R"({"a": 1e300, "b": 1e-400})").is_ok());
}

TEST(ParseJsonObjectTest, NotAnObject) {
  for (std::string_view body : {"[]", "1", "\"s\"", "null", "true", " [ {} ] "}) {
    auto r = parse_json_object(body);
    ASSERT_FALSE(r.is_ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "request body must be a JSON object");
  }
}

TEST(ParseJsonObjectTest, SizeLimit) {
  JsonLimits limits;
  limits.max_bytes = 10;
  EXPECT_TRUE(parse_json_object(R"({"a":"12"})", limits).is_ok());  // exactly 10 bytes
  auto r = parse_json_object(R"({"a":"123"})", limits);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
}

TEST(ParseJsonObjectTest, DepthLimit) {
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_TRUE(parse_json_object(R"({"a":{"b":[1]}})", limits).is_ok());
  auto r = parse_json_object(R"({"a":{"b":[[1]]}})", limits);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("request body is not valid JSON: ", 0), 0u);

  // The default limit stops pathological nesting well inside the size limit.
  const std::string deep = "{\"a\":" + std::string(1000, '[') + std::string(1000, ']') + "}";
  EXPECT_EQ(parse_json_object(deep).status().code(), Code::kInvalidArgument);
}

TEST(JsonFieldsTest, RequiredString) {
  const auto o = parse_ok(R"({"s": "text", "n": 1, "z": null})");
  JsonFields f(o);
  auto s = f.required_string("s");
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(*s, "text");
  EXPECT_EQ(f.required_string("missing").status().message(), "missing field 'missing'");
  EXPECT_EQ(f.required_string("n").status().message(), "field 'n' must be a string");
  EXPECT_EQ(f.required_string("z").status().message(), "field 'z' must be a string");
  EXPECT_EQ(f.required_string("n").status().code(), Code::kInvalidArgument);
}

TEST(JsonFieldsTest, RequiredInt) {
  const auto o = parse_ok(R"({"i": -42, "big": 9223372036854775807, "huge": 9223372036854775808,
                              "d": 1.0, "e": 1e3, "s": "1", "b": true})");
  JsonFields f(o);
  EXPECT_EQ(*f.required_int("i"), -42);
  EXPECT_EQ(*f.required_int("big"), INT64_MAX);
  EXPECT_EQ(f.required_int("huge").status().message(), "field 'huge' is out of range");
  EXPECT_EQ(f.required_int("d").status().message(), "field 'd' must be an integer");
  EXPECT_EQ(f.required_int("e").status().message(), "field 'e' must be an integer");
  EXPECT_EQ(f.required_int("s").status().message(), "field 's' must be an integer");
  EXPECT_EQ(f.required_int("b").status().message(), "field 'b' must be an integer");
  EXPECT_EQ(f.required_int("nope").status().message(), "missing field 'nope'");
}

TEST(JsonFieldsTest, UnsignedWithinRangeIsAccepted) {
  boost::json::object o;
  o["u"] = std::uint64_t{7};
  JsonFields f(o);
  EXPECT_EQ(*f.required_int("u"), 7);
}

TEST(JsonFieldsTest, OptionalFields) {
  const auto o = parse_ok(R"({"s": "x", "i": 3, "b": false, "n": null, "wrong": [1]})");
  JsonFields f(o);
  EXPECT_EQ(*f.optional_string("s"), std::optional<std::string>("x"));
  EXPECT_EQ(*f.optional_string("absent"), std::nullopt);
  EXPECT_EQ(*f.optional_string("n"), std::nullopt);
  EXPECT_EQ(f.optional_string("wrong").status().message(), "field 'wrong' must be a string");

  EXPECT_EQ(*f.optional_int("i"), std::optional<std::int64_t>(3));
  EXPECT_EQ(*f.optional_int("absent"), std::nullopt);
  EXPECT_EQ(*f.optional_int("n"), std::nullopt);
  EXPECT_EQ(f.optional_int("s").status().message(), "field 's' must be an integer");

  EXPECT_EQ(*f.optional_bool("b"), std::optional<bool>(false));
  EXPECT_EQ(*f.optional_bool("absent"), std::nullopt);
  EXPECT_EQ(*f.optional_bool("n"), std::nullopt);
  EXPECT_EQ(f.optional_bool("i").status().message(), "field 'i' must be a boolean");
}

}  // namespace
}  // namespace hifi
