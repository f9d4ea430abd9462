#include "api/pagination.hpp"

#include <algorithm>

#include "api/request.hpp"

namespace tern::api {

namespace {
constexpr size_t kMaxLimit = 1000;

std::string to_hex(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(const std::string& s) {
  if (s.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    auto v = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    int hi = v(s[i]), lo = v(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}
}  // namespace

core::Result<PageRequest> page_request(const net::HttpRequest& req) {
  PageRequest p;
  auto limit = query_param(req, "limit");
  if (!limit) return limit.error();
  if (*limit) {
    const std::string& l = **limit;
    bool ok = !l.empty() && l.size() <= 4 &&
              std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (ok) p.limit = std::stoul(l);
    if (!ok || p.limit < 1 || p.limit > kMaxLimit)
      return core::Error::perm("limit must be an integer from 1 to 1000");
  }
  auto cursor = query_param(req, "cursor");
  if (!cursor) return cursor.error();
  if (*cursor) {
    if ((*cursor)->size() > 2048) return core::Error::perm("invalid cursor");
    p.cursor = **cursor;
  }
  return p;
}

core::Result<nlohmann::json> page_of(std::vector<std::pair<std::string, nlohmann::json>> keyed,
                                     const PageRequest& page) {
  std::string after;
  if (!page.cursor.empty()) {
    auto k = from_hex(page.cursor);
    if (!k || k->empty()) return core::Error::perm("invalid cursor");
    after = std::move(*k);
  }
  std::sort(keyed.begin(), keyed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json items = nlohmann::json::array();
  nlohmann::json next = nullptr;
  auto it = page.cursor.empty()
                ? keyed.begin()
                : std::upper_bound(keyed.begin(), keyed.end(), after,
                                   [](const std::string& k, const auto& e) { return k < e.first; });
  for (; it != keyed.end(); ++it) {
    if (items.size() == page.limit) {
      next = to_hex(std::prev(it)->first);
      break;
    }
    items.push_back(std::move(it->second));
  }
  return nlohmann::json{{"items", std::move(items)}, {"nextCursor", std::move(next)}};
}

}  // namespace tern::api
