#include "store/suppression_service.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "core/address.hpp"

namespace tern::store {

namespace {

using Mode = Database::Mode;

// The stored form of a recipient address, or nullopt when not an address.
std::optional<std::string> key_of(std::string_view address) {
  auto mb = core::parse_mailbox(address);
  if (!mb) return std::nullopt;
  return mb->str();
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(std::string_view s) {
  if (s.empty() || s.size() % 2 || s.size() > 1024) return std::nullopt;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = v(s[i]), lo = v(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

core::Result<SuppressionPage> SuppressionService::search(const SuppressionQuery& q) {
  if (q.limit < 1 || q.limit > 1000) return core::Error::invalid("limit must be 1..1000");
  if (q.q.size() > 320 || q.reason.size() > 200)
    return core::Error::invalid("search text too long");
  std::string after;
  if (!q.cursor.empty()) {
    auto a = unhex(q.cursor);
    if (!a) return core::Error::invalid("invalid cursor");
    after = std::move(*a);
  }
  auto rows = in_tx(db_, Mode::read, [&](Tx& tx) {
    return tx.suppressions().search(q.account_id, after, q.q, q.reason, q.limit + 1);
  });
  if (!rows) return rows.error();
  SuppressionPage page;
  page.items = std::move(rows).value();
  if (page.items.size() > q.limit) {
    page.items.resize(q.limit);
    page.next_cursor = hex(page.items.back().address);
  }
  return page;
}

core::Result<BulkResult> SuppressionService::bulk(int64_t account_id,
                                                  const std::vector<std::string>& add,
                                                  const std::vector<std::string>& remove,
                                                  const std::string& reason, int64_t now_ms) {
  if (add.size() + remove.size() > kMaxBulk)
    return core::Error::invalid(fmt::format("at most {} addresses at once", kMaxBulk));
  BulkResult out;
  std::vector<std::string> to_add, to_remove;
  auto canon = [&out](const std::vector<std::string>& in, std::vector<std::string>& dst) {
    for (const auto& a : in) {
      if (auto k = key_of(a))
        dst.push_back(std::move(*k));
      else
        out.invalid.push_back(a.size() > 320 ? a.substr(0, 320) : a);
    }
  };
  canon(add, to_add);
  canon(remove, to_remove);
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto acc = tx.accounts().by_id(account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found("no such account");
    for (const auto& a : to_add) {
      if (auto w = tx.suppressions().upsert({account_id, a, reason, "", now_ms}); !w) return w;
      ++out.added;
    }
    for (const auto& a : to_remove) {
      auto gone = tx.suppressions().remove(account_id, a);
      if (!gone) return gone.error();
      out.removed += *gone ? 1 : 0;
    }
    return core::ok();
  });
  if (!r) return r.error();
  return out;
}

core::Result<void> SuppressionService::add(const Suppression& s) {
  auto address = key_of(s.address);
  if (!address) return core::Error::invalid("suppression: invalid address");
  Suppression row = s;
  row.address = *address;
  if (row.created_ms == 0) row.created_ms = clock_.now_ms();
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto acc = tx.accounts().by_id(s.account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found(fmt::format("no account with id {}", s.account_id));
    return tx.suppressions().upsert(row);
  });
}

core::Result<std::vector<Suppression>> SuppressionService::list(int64_t account_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.suppressions().of_account(account_id); });
}

core::Result<void> SuppressionService::remove(int64_t account_id, const std::string& address) {
  auto key = key_of(address);
  if (!key) return core::Error::invalid("not a valid address");
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto gone = tx.suppressions().remove(account_id, *key);
    if (!gone) return gone.error();
    if (!*gone)
      return core::Error::not_found(
          fmt::format("{} is not on the account's suppression list", *key));
    return core::ok();
  });
}

core::Result<bool> SuppressionService::contains(int64_t account_id, const std::string& address) {
  auto key = key_of(address);
  if (!key) return false;  // never stored: add accepts addresses only
  auto hit =
      in_tx(db_, Mode::read, [&](Tx& tx) { return tx.suppressions().listed(account_id, {*key}); });
  if (!hit) return hit.error();
  return !hit->empty();
}

core::Result<std::vector<std::string>> SuppressionService::listed(
    int64_t account_id, const std::vector<std::string>& addresses) {
  std::vector<std::string> keys;
  std::vector<std::optional<std::string>> key_of_given;
  for (const auto& a : addresses) {
    key_of_given.push_back(key_of(a));
    if (key_of_given.back()) keys.push_back(*key_of_given.back());
  }
  std::vector<std::string> out;
  if (keys.empty()) return out;
  auto hits =
      in_tx(db_, Mode::read, [&](Tx& tx) { return tx.suppressions().listed(account_id, keys); });
  if (!hits) return hits.error();
  const std::unordered_set<std::string> on(hits->begin(), hits->end());
  for (size_t i = 0; i < addresses.size(); ++i)
    if (key_of_given[i] && on.count(*key_of_given[i]) > 0) out.push_back(addresses[i]);
  return out;
}

}  // namespace tern::store
