#include "store/settings_service.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>

namespace tern::store {

namespace {

using Mode = Database::Mode;

constexpr std::string_view kPasswordKey = "relay.password";
constexpr std::string_view kWebhookSecretKey = "webhook_secret";
// Rows kept beside webhook_secret for its rotation window (not keys a user sets): the replaced
// secret, sealed like it, and when it was replaced (unix ms).
constexpr std::string_view kPreviousSecretKey = "webhook_secret.previous";
constexpr std::string_view kSecretChangedKey = "webhook_secret.changed_ms";

core::Result<void> require_account(Tx& tx, int64_t id) {
  auto a = tx.accounts().by_id(id);
  if (!a) return a.error();
  if (!*a) return core::Error::not_found(fmt::format("no account with id {}", id));
  return core::ok();
}

std::optional<int64_t> parse_int64(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

template <typename Write>
core::Result<void> rotate_webhook_secret(
    const Sealer& sealer, const core::Clock& clock,
    const std::vector<std::pair<std::string, std::string>>& rows, const std::string& next,
    const Write& write) {
  // Before the new webhook_secret is written, in the same Tx: a different secret makes the
  // stored (sealed) one the previous secret, changed now; a removed secret drops the previous
  // one as well (reports go out unsigned); the same secret again changes nothing.
  std::string_view stored;
  for (const auto& [key, value] : rows)
    if (key == kWebhookSecretKey) stored = value;
  if (!stored.empty()) {
    auto current = sealer.open(stored);
    if (!current) return current.error().context("store: webhook_secret");
    const bool same = *current == next;
    sodium_memzero(current->data(), current->size());
    if (same) return core::ok();
  } else if (next.empty()) {
    return core::ok();
  }
  if (auto r = write(kPreviousSecretKey, next.empty() ? std::string_view() : stored); !r) return r;
  return write(kSecretChangedKey, std::to_string(clock.now_ms()));
}

}  // namespace

core::Result<AccountSettings> SettingsService::merge(
    const std::vector<std::pair<std::string, std::string>>& rows, const Sealer* open_secrets) {
  AccountSettings out;
  const auto& keys = setting_keys();
  for (const auto& [key, value] : rows) {
    if (key == kSecretChangedKey) {
      auto ms = parse_int64(value);
      if (!ms) return core::Error::corrupt("store: stored " + key + " is not a number");
      out.webhook_secret_changed_ms = *ms;
      continue;
    }
    if (key == kPreviousSecretKey) {
      if (open_secrets) {
        auto plain = open_secrets->open(value);
        if (!plain) return plain.error().context("store: " + key);
        out.webhook_secret_previous = std::move(plain).value();
      }
      continue;
    }
    // Other subjects may keep rows in this table too (message option defaults): skip them.
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
    if (is_secret_key(key)) {
      const bool relay = key == kPasswordKey;
      (relay ? out.relay_password_set : out.webhook_secret_set) = true;
      if (open_secrets) {
        auto plain = open_secrets->open(value);
        if (!plain) return plain.error().context("store: " + key);
        (relay ? out.relay_password : out.webhook_secret) = std::move(plain).value();
      }
      continue;
    }
    if (auto r = apply_setting(out, key, value); !r)
      return core::Error::corrupt("store: stored setting invalid: " + r.error().message);
  }
  return out;
}

core::Result<AccountSettings> SettingsService::get(int64_t account_id, bool with_secrets) {
  auto rows = in_tx(db_, Mode::read,
                    [&](Tx& tx) -> core::Result<std::vector<std::pair<std::string, std::string>>> {
                      if (auto r = require_account(tx, account_id); !r) return r.error();
                      return tx.settings().rows(account_id);
                    });
  if (!rows) return rows.error();
  auto out = merge(*rows, with_secrets ? &sealer_ : nullptr);
  for (auto& [k, v] : *rows) sodium_memzero(v.data(), v.size());
  return out;
}

core::Result<void> SettingsService::set(
    int64_t account_id, const std::vector<std::pair<std::string, std::string>>& kv) {
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    if (auto r = require_account(tx, account_id); !r) return r;
    auto rows = tx.settings().rows(account_id);
    if (!rows) return rows.error();
    auto current = merge(*rows, nullptr);
    if (!current) return current.error();
    AccountSettings s = std::move(current).value();
    bool password_given = false, secret_given = false;
    for (const auto& [key, value] : kv) {
      if (auto r = apply_setting(s, key, value); !r) return r;
      password_given = password_given || key == kPasswordKey;
      secret_given = secret_given || key == kWebhookSecretKey;
    }
    if (auto r = validate(s); !r) return r;
    auto write = [&](std::string_view key, std::string_view value) -> core::Result<void> {
      if (value.empty()) return tx.settings().remove(account_id, key);  // absent = default
      return tx.settings().put(account_id, key, value);
    };
    for (const auto& key : setting_keys()) {
      if (is_secret_key(key)) continue;
      if (auto r = write(key, setting_value(s, key)); !r) return r;
    }
    auto write_secret = [&](std::string_view key, std::string& plain) -> core::Result<void> {
      std::string stored = sealer_.seal(plain);
      auto r = write(key, stored);
      sodium_memzero(stored.data(), stored.size());
      sodium_memzero(plain.data(), plain.size());
      return r;
    };
    if (password_given)
      if (auto r = write_secret(kPasswordKey, s.relay_password); !r) return r;
    if (secret_given) {
      if (auto r = rotate_webhook_secret(sealer_, clock_, *rows, s.webhook_secret, write); !r)
        return r;
      if (auto r = write_secret(kWebhookSecretKey, s.webhook_secret); !r) return r;
    }
    return core::ok();
  });
}

}  // namespace tern::store
