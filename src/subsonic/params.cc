#include "subsonic/params.h"

#include <charconv>

#include "common/text.h"

namespace hifi::subsonic {

Status Params::add_encoded(std::string_view text) {
  if (text.size() > kMaxParamBytes) {
    return resource_exhausted("the parameters may be at most " + std::to_string(kMaxParamBytes) + " bytes");
  }
  std::vector<std::pair<std::string, std::string>> added;
  std::size_t bytes = bytes_;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('&', start);
    if (end == std::string_view::npos) end = text.size();
    auto piece = text.substr(start, end - start);
    start = end + 1;
    if (piece.empty()) continue;
    const auto eq = piece.find('=');
    auto name = form_decode(piece.substr(0, eq));
    auto value = form_decode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    if (!name) return name.status();
    if (!value) return value.status();
    if (name->empty()) return invalid_argument("a parameter has no name");
    if (name->size() > kMaxParamNameBytes) {
      return resource_exhausted("parameter names may be at most " + std::to_string(kMaxParamNameBytes) + " bytes");
    }
    if (value->size() > kMaxParamValueBytes) {
      return resource_exhausted("parameter '" + *name + "' is longer than " + std::to_string(kMaxParamValueBytes) +
                                " bytes");
    }
    bytes += name->size() + value->size();
    if (items_.size() + added.size() >= kMaxParams || bytes > kMaxParamBytes) {
      return resource_exhausted("a request may have at most " + std::to_string(kMaxParams) + " parameters of " +
                                std::to_string(kMaxParamBytes) + " bytes in all");
    }
    added.emplace_back(std::move(*name), std::move(*value));
  }
  for (auto& item : added) items_.push_back(std::move(item));
  bytes_ = bytes;
  return Status::ok();
}

std::optional<std::string> Params::get(std::string_view name) const {
  for (const auto& [n, v] : items_) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Params::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : items_) {
    if (n == name) out.push_back(v);
  }
  return out;
}

Expected<std::string> Params::required(std::string_view name) const {
  auto v = get(name);
  if (!v) return missing_parameter(std::string(name));
  return *v;
}

Expected<std::int64_t> Params::integer(std::string_view name, std::int64_t min, std::int64_t max,
                                       std::int64_t fallback) const {
  auto text = get(name);
  if (!text) return fallback;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max) {
    return generic_error("parameter '" + std::string(name) + "' must be a whole number from " + std::to_string(min) +
                         " to " + std::to_string(max));
  }
  return v;
}

Expected<std::int64_t> Params::required_integer(std::string_view name, std::int64_t min, std::int64_t max) const {
  if (!has(name)) return missing_parameter(std::string(name));
  return integer(name, min, max, 0);
}

Expected<bool> Params::boolean(std::string_view name, bool fallback) const {
  auto text = get(name);
  if (!text) return fallback;
  std::string lower;
  for (char c : *text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true") return true;
  if (lower == "false") return false;
  return generic_error("parameter '" + std::string(name) + "' must be true or false");
}

}  // namespace hifi::subsonic
