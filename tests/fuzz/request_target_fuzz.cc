// Fuzzes RequestTarget::parse() against Boost.URL's parse_origin_form,
// which the router used before it: the same targets accepted, and the same
// path, query, decoded segments and decoded query parameters.
#include <boost/url.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/request_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  const auto mine = hifi::RequestTarget::parse(target);
  const auto boost = boost::urls::parse_origin_form(boost::core::string_view(target.data(), target.size()));
  if (mine.has_value() != static_cast<bool>(boost)) std::abort();
  if (!mine) return 0;
  if (mine->encoded_path() != std::string_view(boost->encoded_path()) || mine->has_query() != boost->has_query() ||
      mine->encoded_query() != std::string_view(boost->encoded_query()) || mine->path() != std::string(boost->path())) {
    std::abort();
  }
  std::vector<std::string> segments;
  for (auto segment : boost->segments()) segments.push_back(segment);
  if (mine->segments() != segments) std::abort();
  std::vector<std::pair<std::string, std::string>> params;
  for (auto param : boost->params()) params.emplace_back(param.key, param.value);
  if (mine->query_params() != params) std::abort();
  return 0;
}
