#include "subsonic/document.h"

#include "common/text.h"

#include <fmt/format.h>

#include <boost/json.hpp>

namespace hifi::subsonic {
namespace json = boost::json;
namespace {

constexpr std::size_t kMaxCallbackBytes = 128;

bool identifier_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

std::string scalar_text(const Scalar& value) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(std::int64_t n) const { return std::to_string(n); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(double d) const { return fmt::format("{}", d); }
  };
  return std::visit(Visitor{}, value);
}

json::value scalar_json(const Scalar& value) {
  return std::visit([](const auto& v) { return json::value(v); }, value);
}


void append_xml(std::string& out, const Element& e) {
  out += '<';
  out += e.name();
  for (const auto& [name, value] : e.attributes()) {
    out += ' ';
    out += name;
    out += "=\"";
    append_markup_escaped(out, scalar_text(value));
    out += '"';
  }
  if (e.children().empty() && !e.text()) {
    out += "/>";
    return;
  }
  out += '>';
  if (e.text()) append_markup_escaped(out, scalar_text(*e.text()));
  for (const auto& child : e.children()) append_xml(out, child);
  out += "</";
  out += e.name();
  out += '>';
}

json::value to_json(const Element& e) {
  if (e.attributes().empty() && e.children().empty() && !e.kept_object()) {
    return e.text() ? scalar_json(*e.text()) : json::value(json::object());
  }
  json::object o;
  for (const auto& [name, value] : e.attributes()) o[name] = scalar_json(value);
  if (e.text()) o["value"] = scalar_json(*e.text());
  for (const auto& child : e.children()) {
    if (!child.repeated()) {
      o[child.name()] = to_json(child);
      continue;
    }
    auto& slot = o[child.name()];
    if (!slot.is_array()) slot = json::array();
    slot.as_array().push_back(to_json(child));
  }
  return o;
}

// The namespace is an XML matter: JSON has no member for it.
Element envelope(bool ok, Format format) {
  Element root("subsonic-response");
  if (format == Format::kXml) root.set("xmlns", kXmlNamespace);
  root.set("status", ok ? "ok" : "failed")
      .set("version", kApiVersion)
      .set("type", kServerType)
      .set("serverVersion", kServerVersion)
      .set("openSubsonic", true);
  return root;
}

Rendered render(const Element& root, Format format, std::string_view callback) {
  if (format == Format::kXml) {
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    append_xml(out, root);
    return {"text/xml; charset=utf-8", std::move(out)};
  }
  auto body = json::serialize(json::object{{root.name(), to_json(root)}});
  if (format == Format::kJson) return {"application/json", std::move(body)};
  return {"application/javascript; charset=utf-8", std::string(callback) + "(" + body + ");"};
}

}  // namespace

Expected<Format> parse_format(const std::optional<std::string>& f) {
  if (!f || *f == "xml") return Format::kXml;
  if (*f == "json") return Format::kJson;
  if (*f == "jsonp") return Format::kJsonp;
  return generic_error(fmt::format("unknown response format '{}'; f must be xml, json or jsonp", f->substr(0, 32)));
}

bool valid_jsonp_callback(std::string_view callback) {
  if (callback.empty() || callback.size() > kMaxCallbackBytes) return false;
  bool at_start = true;
  for (char c : callback) {
    if (at_start) {
      if (!identifier_start(c)) return false;
      at_start = false;
    } else if (c == '.') {
      at_start = true;
    } else if (!identifier_start(c) && !(c >= '0' && c <= '9')) {
      return false;
    }
  }
  return !at_start;
}

Rendered render_ok(const std::vector<Element>& body, Format format, std::string_view callback) {
  auto root = envelope(true, format);
  for (const auto& e : body) root.add(e);
  return render(root, format, callback);
}

Rendered render_error(const Error& error, Format format, std::string_view callback) {
  auto root = envelope(false, format);
  root.add(Element("error").set("code", static_cast<int>(error.code)).set("message", error.message));
  return render(root, format, callback);
}

}  // namespace hifi::subsonic
