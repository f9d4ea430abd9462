#include "store/suppression_service.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

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

}  // namespace

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
  for (size_t i = 0; i < addresses.size(); ++i)
    if (key_of_given[i] && std::find(hits->begin(), hits->end(), *key_of_given[i]) != hits->end())
      out.push_back(addresses[i]);
  return out;
}

}  // namespace tern::store
