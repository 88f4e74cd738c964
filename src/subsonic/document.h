// Subsonic response documents: a small element tree, written once by the
// endpoints and rendered as XML, JSON or JSONP in the `subsonic-response`
// envelope.
//
// One tree serves both formats because the protocol defines JSON by its XML:
// attributes become members (numbers and booleans keep their type), child
// elements become members named after them, an element that may occur more
// than once (an `item`) is always a JSON array, even with one entry or none
// of its siblings, and an element's text becomes its value (or "value" next
// to its attributes).
//
// Pure values and functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "subsonic/error.h"

namespace hifi::subsonic {

using Scalar = std::variant<std::string, std::int64_t, bool, double>;

class Element {
 public:
  // An element that occurs once in its parent.
  explicit Element(std::string name) : name_(std::move(name)) {}
  // An element that may occur any number of times in its parent: a JSON array.
  static Element item(std::string name) {
    Element e(std::move(name));
    e.repeated_ = true;
    return e;
  }

  // Attributes in the order set: text (valid UTF-8), whole numbers,
  // booleans or decimals.
  template <typename T>
  Element& set(std::string name, const T& value) {
    attributes_.emplace_back(std::move(name), to_scalar(value));
    return *this;
  }
  // set() only when the text is not empty or the number not 0.
  template <typename T>
  Element& set_if(std::string name, const T& value) {
    return value == T{} ? *this : set(std::move(name), value);
  }
  template <typename T>
  Element& text(const T& value) {
    text_ = to_scalar(value);
    return *this;
  }
  // An item as the one element of its kind (getSong's song), or back.
  Element& set_repeated(bool repeated) {
    repeated_ = repeated;
    return *this;
  }
  // In JSON an element with only text is that text; this one stays an
  // object with the text as "value" (OpenSubsonic's lyric lines).
  Element& keep_object() {
    keep_object_ = true;
    return *this;
  }
  bool kept_object() const { return keep_object_; }
  Element& add(Element child) {
    children_.push_back(std::move(child));
    return *this;
  }

  const std::string& name() const { return name_; }
  bool repeated() const { return repeated_; }
  const std::vector<std::pair<std::string, Scalar>>& attributes() const { return attributes_; }
  const std::vector<Element>& children() const { return children_; }
  std::vector<Element>& children() { return children_; }
  // The attribute's value, if set.
  const Scalar* attribute(std::string_view name) const {
    for (const auto& [n, v] : attributes_) {
      if (n == name) return &v;
    }
    return nullptr;
  }
  const std::optional<Scalar>& text() const { return text_; }

 private:
  template <typename T>
  static Scalar to_scalar(const T& value) {
    if constexpr (std::is_same_v<T, Scalar> || std::is_same_v<T, bool>) {
      return value;
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<std::int64_t>(value);
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<double>(value);
    } else {
      return std::string(value);
    }
  }

  std::string name_;
  bool repeated_ = false;
  bool keep_object_ = false;
  std::vector<std::pair<std::string, Scalar>> attributes_;
  std::vector<Element> children_;
  std::optional<Scalar> text_;
};

enum class Format { kXml, kJson, kJsonp };

// The `f` parameter: "xml" (also when absent), "json", "jsonp"; an error
// for anything else. A JSONP callback must be a JavaScript identifier path
// ("cb", "jQuery_1.handle"), at most 128 bytes.
Expected<Format> parse_format(const std::optional<std::string>& f);
bool valid_jsonp_callback(std::string_view callback);

struct Rendered {
  std::string content_type;
  std::string body;
};

inline constexpr char kApiVersion[] = "1.16.1";
inline constexpr char kServerType[] = "hifi";
inline constexpr char kServerVersion[] = "0.1.0";
inline constexpr char kXmlNamespace[] = "http://subsonic.org/restapi";

// The envelope with status "ok" around `body` (the endpoint's elements,
// often one, none for ping), or with status "failed" and the error.
// `callback` is used for kJsonp only and must be valid.
Rendered render_ok(const std::vector<Element>& body, Format format, std::string_view callback = {});
Rendered render_error(const Error& error, Format format, std::string_view callback = {});

}  // namespace hifi::subsonic
