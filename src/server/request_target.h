// The target of an HTTP request in origin form (RFC 9112 section 3.2.1):
// an absolute path and an optional query, in RFC 3986's characters, with
// well-formed percent-escapes. The router checks and splits every target
// with it; it accepts and splits exactly what Boost.URL's
// parse_origin_form does (tests/server/parsers/request_target_test.cc
// compares the two), at a fraction of the cost on the path of every
// request.
//
// No Beast here, so the parser tests and fuzzers reach it directly.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hifi {

class RequestTarget {
 public:
  // nullopt when `target` is not a valid origin form. The value refers to
  // `target`'s text, which must outlive it.
  static std::optional<RequestTarget> parse(std::string_view target);

  // As sent: "/api/v1/songs/x%20y/stream".
  std::string_view encoded_path() const { return path_; }
  // Whether there is a '?', and what follows it as sent (maybe empty).
  bool has_query() const { return has_query_; }
  std::string_view encoded_query() const { return query_; }
  // The path percent-decoded, for messages.
  std::string path() const;
  // The path's segments percent-decoded: "/" has none, "/a/" has "a" and
  // "", "/a%2Fb" has "a/b".
  std::vector<std::string> segments() const;
  // The query's parameters in order, names and values decoded ('+' is a
  // space, %XX a byte); a name without '=' has an empty value. As Boost.URL's
  // params(): every '&' separates two, so "?" has one empty parameter and
  // "?a=1&" two.
  std::vector<std::pair<std::string, std::string>> query_params() const;

  // The same two without a copy, for the router: views into the target's
  // text where there was nothing to decode, else into `decoded`, which
  // moves with them. Valid while both the value and the target's text live.
  struct SegmentViews {
    std::vector<std::string_view> items;
    std::unique_ptr<char[]> decoded;
  };
  struct ParamViews {
    std::vector<std::pair<std::string_view, std::string_view>> items;
    std::unique_ptr<char[]> decoded;
  };
  SegmentViews segment_views() const;
  ParamViews param_views() const;

 private:
  std::string_view path_;
  std::string_view query_;
  bool has_query_ = false;
};

}  // namespace hifi
