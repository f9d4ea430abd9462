#include "api/request.hpp"

#include <fmt/format.h>

#include <ctime>

namespace tern::api {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.ends_with('/')) path.remove_suffix(1);
  if (path.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (seg.empty()) return std::nullopt;
    auto d = percent_decode(seg);
    if (!d) return std::nullopt;
    out.push_back(std::move(*d));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

core::Result<std::optional<std::string>> query_param(const net::HttpRequest& req,
                                                     std::string_view name) {
  std::string_view q = req.query();
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (!key) return core::Error::perm("malformed query string");
    if (*key != name) continue;
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!value) return core::Error::perm(fmt::format("malformed query parameter {}", name));
    return std::optional<std::string>(std::move(*value));
  }
  return std::optional<std::string>();
}

core::Result<nlohmann::json> json_object_body(const net::HttpRequest& req) {
  if (req.body.empty()) return core::Error::perm("a JSON object body is required");
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return core::Error::perm("malformed JSON body");
  if (!j.is_object()) return core::Error::perm("the body must be a JSON object");
  return j;
}

core::Result<std::optional<std::string>> string_member(const nlohmann::json& obj,
                                                       const std::string& name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return core::Error::perm(fmt::format("\"{}\" must be a string", name));
  return std::optional<std::string>(it->get<std::string>());
}

std::string iso_time(int64_t unix_ms) {
  if (unix_ms < 0) unix_ms = 0;
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ms % 1000);
}

std::optional<int64_t> parse_time(std::string_view s) {
  if (digits(s)) {
    if (s.size() > 15) return std::nullopt;  // beyond year 33658: not a time
    int64_t v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return v;
  }
  // YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  for (size_t i : {0, 5, 8, 11, 14, 17}) {
    size_t n = i == 0 ? 4 : 2;
    if (!digits(s.substr(i, n))) return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = to_int(s.substr(0, 4)) - 1900;
  tm.tm_mon = to_int(s.substr(5, 2)) - 1;
  tm.tm_mday = to_int(s.substr(8, 2));
  tm.tm_hour = to_int(s.substr(11, 2));
  tm.tm_min = to_int(s.substr(14, 2));
  tm.tm_sec = to_int(s.substr(17, 2));
  if (tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  std::string_view rest = s.substr(19);
  int64_t ms = 0;
  if (rest.starts_with('.')) {
    size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n == 1) return std::nullopt;
    std::string frac(rest.substr(1, n - 1));
    frac.resize(3, '0');
    ms = to_int(frac.substr(0, 3));
    rest.remove_prefix(n);
  }
  int64_t offset_s = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
             digits(rest.substr(1, 2)) && digits(rest.substr(4, 2))) {
    offset_s = (to_int(rest.substr(1, 2)) * 3600 + to_int(rest.substr(4, 2)) * 60) *
               (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  const std::time_t t = timegm(&tm);
  if (t < 0) return std::nullopt;
  return (static_cast<int64_t>(t) - offset_s) * 1000 + ms;
}

std::string quote_short(std::string_view s) {
  std::string out(s.substr(0, 80));
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

}  // namespace tern::api
