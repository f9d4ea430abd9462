// The memory backend (memory_backend.hpp). Plain vectors scanned linearly: it is for tests and
// as the reference of the contract, not for volume. Orders and tie-breakers are spelled out
// where each list is made, to match repositories.hpp, message_log.hpp and outbox.hpp exactly;
// the conformance suite checks that SQLite agrees.
#include "store/memory_backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "store/cursor.hpp"
#include "store/domain_checks.hpp"
#include "store/message_log_rules.hpp"
#include "store/node_registry.hpp"

namespace tern::store {

namespace {

using Mode = Database::Mode;

// How long a Tx waits for the one before it (SQLite's busy_timeout).
constexpr auto kBusyTimeout = std::chrono::seconds(5);

struct Tables {
  int64_t seq = 0;  // insertion order, the last tie-breaker
  int64_t next_account_id = 1;
  int64_t next_key_version = 1;
  std::vector<Account> accounts;  // ascending id
  struct Login {
    int64_t seq;
    CredentialRow row;
  };
  std::vector<Login> credentials;
  struct Key {
    int64_t seq;
    ApiKeyRow row;
  };
  std::vector<Key> api_keys;
  struct Claim {
    int64_t seq;
    DomainDetail d;             // records sorted by id
    int64_t next_check_ms = 0;  // the DNS re-check queue (domain_checks.hpp)
  };
  std::vector<Claim> domains;
  std::vector<StoredKey> dkim_keys;
  std::vector<Sender> senders;
  std::vector<SenderLink> links;
  std::map<std::pair<int64_t, std::string>, std::string> settings;
  std::vector<Suppression> suppressions;
  std::vector<Suspension> suspensions;  // ascending account_id
  std::vector<SessionRow> sessions;
  std::vector<LoginCodeRow> login_codes;
  // Hourly counters: (account_id, hour_ms, event) → n, kept by Events::append.
  std::map<std::tuple<int64_t, int64_t, std::string>, int64_t> stats;
  std::vector<CapturedMessage> captured;
  struct Event {
    int64_t seq;
    DeliveryEvent e;
  };
  std::vector<Event> events;
  std::set<std::string> event_keys;  // the non-empty DeliveryEvent::key values stored
};

struct Storage {
  std::mutex db_mu;  // held by the one open Tx (see MemoryDatabase::begin)
  Tables tables;
  std::mutex log_mu;
  std::map<std::string, MessageRecord> messages;
  std::mutex outbox_mu;
  int64_t next_outbox_id = 1;
  std::vector<OutboxItem> outbox;     // ascending id
  std::set<std::string> outbox_keys;  // the non-empty OutboxItem::item_key values stored
  std::mutex nodes_mu;
  std::map<std::string, NodeRecord> nodes;  // the node registry, by id
};

std::shared_ptr<Storage> storage(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<Storage>> named;
  if (name.empty()) return std::make_shared<Storage>();
  std::lock_guard lock(mu);
  std::erase_if(named, [](const auto& kv) { return kv.second.expired(); });
  auto& w = named[name];
  auto s = w.lock();
  if (!s) {
    s = std::make_shared<Storage>();
    w = s;
  }
  return s;
}

// What every repository of a Tx shares.
struct Conn {
  Tables& t;
  Mode mode;
  core::Result<void> writable() const {
    if (mode == Mode::write) return core::ok();
    return core::Error::internal("store: write in a read transaction");
  }
};

// --- accounts ---

class Accounts final : public AccountRepo {
 public:
  explicit Accounts(Conn c) : c_(c) {}
  core::Result<int64_t> insert(const Account& a) override {
    if (auto w = c_.writable(); !w) return w.error();
    for (const auto& x : c_.t.accounts)
      if (x.name == a.name || x.code == a.code)
        return core::Error::conflict("store: insert account: name or code taken");
    Account row = a;
    row.id = c_.t.next_account_id++;
    c_.t.accounts.push_back(row);
    return row.id;
  }
  core::Result<std::optional<Account>> by_id(int64_t id) override {
    return find([&](const Account& a) { return a.id == id; });
  }
  core::Result<std::optional<Account>> by_name(std::string_view name) override {
    return find([&](const Account& a) { return a.name == name; });
  }
  core::Result<std::optional<Account>> by_code(std::string_view code) override {
    return find([&](const Account& a) { return a.code == code; });
  }
  core::Result<std::vector<Account>> list() override { return c_.t.accounts; }
  core::Result<void> remove(int64_t id) override {
    if (auto w = c_.writable(); !w) return w;
    auto& t = c_.t;
    const auto before = t.accounts.size();
    std::erase_if(t.accounts, [&](const Account& a) { return a.id == id; });
    if (t.accounts.size() == before)
      return core::Error::not_found(fmt::format("no account with id {}", id));
    // What the account owns goes with it (the events stay: a log, not owned data).
    std::erase_if(t.credentials, [&](const auto& x) { return x.row.account_id == id; });
    std::erase_if(t.api_keys, [&](const auto& x) { return x.row.key.account_id == id; });
    std::erase_if(t.domains, [&](const auto& x) { return x.d.account_id == id; });
    std::erase_if(t.dkim_keys, [&](const auto& x) { return x.account_id == id; });
    std::erase_if(t.senders, [&](const auto& x) { return x.account_id == id; });
    std::erase_if(t.links, [&](const auto& x) { return x.account_id == id; });
    std::erase_if(t.settings, [&](const auto& kv) { return kv.first.first == id; });
    std::erase_if(t.suppressions, [&](const auto& x) { return x.account_id == id; });
    std::erase_if(t.suspensions, [&](const auto& x) { return x.account_id == id; });
    std::erase_if(t.sessions, [&](const auto& x) { return x.account_id == id; });
    std::erase_if(t.stats, [&](const auto& kv) { return std::get<0>(kv.first) == id; });
    std::erase_if(t.captured, [&](const auto& x) { return x.account_id == id; });
    return core::ok();
  }

 private:
  template <class P>
  core::Result<std::optional<Account>> find(P pred) {
    for (const auto& a : c_.t.accounts)
      if (pred(a)) return std::optional<Account>(a);
    return std::optional<Account>();
  }
  Conn c_;
};

// --- logins ---

class Credentials final : public CredentialRepo {
 public:
  explicit Credentials(Conn c) : c_(c) {}
  core::Result<void> insert(const CredentialRow& c) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.credentials)
      if (x.row.username == c.username)
        return core::Error::conflict("store: insert credential: username taken");
    c_.t.credentials.push_back({++c_.t.seq, c});
    return core::ok();
  }
  core::Result<std::optional<CredentialRow>> by_username(std::string_view username) override {
    for (const auto& x : c_.t.credentials)
      if (x.row.username == username) return std::optional<CredentialRow>(x.row);
    return std::optional<CredentialRow>();
  }
  core::Result<std::vector<CredentialRow>> of_account(int64_t account_id) override {
    std::vector<CredentialRow> out;  // insertion order = creation order
    for (const auto& x : c_.t.credentials)
      if (x.row.account_id == account_id) out.push_back(x.row);
    return out;
  }
  core::Result<bool> remove(int64_t account_id, std::string_view username) override {
    if (auto w = c_.writable(); !w) return w.error();
    return std::erase_if(c_.t.credentials, [&](const auto& x) {
             return x.row.account_id == account_id && x.row.username == username;
           }) > 0;
  }

 private:
  Conn c_;
};

class ApiKeys final : public ApiKeyRepo {
 public:
  explicit ApiKeys(Conn c) : c_(c) {}
  core::Result<void> insert(const ApiKeyRow& k) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.api_keys)
      if (x.row.hash == k.hash) return core::Error::conflict("store: insert API key: hash taken");
    ApiKeyRow row = k;
    row.key.revoked_ms = 0;
    c_.t.api_keys.push_back({++c_.t.seq, row});
    return core::ok();
  }
  core::Result<std::optional<int64_t>> active_account(std::string_view hash) override {
    for (const auto& x : c_.t.api_keys)
      if (x.row.hash == hash && x.row.key.revoked_ms == 0)
        return std::optional<int64_t>(x.row.key.account_id);
    return std::optional<int64_t>();
  }
  core::Result<std::vector<ApiKey>> of_account(int64_t account_id) override {
    std::vector<ApiKey> out;
    for (const auto& x : c_.t.api_keys)
      if (x.row.key.account_id == account_id) out.push_back(x.row.key);
    return out;
  }
  core::Result<int> revoke(int64_t account_id, std::string_view prefix, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w.error();
    int n = 0;
    for (auto& x : c_.t.api_keys)
      if (x.row.key.account_id == account_id && x.row.key.prefix == prefix &&
          x.row.key.revoked_ms == 0) {
        x.row.key.revoked_ms = now_ms;
        ++n;
        // The console sessions the key made end with it (SQLite: a trigger).
        std::erase_if(c_.t.sessions, [&](const SessionRow& r) {
          return r.account_id == account_id && r.api_key_hash == x.row.hash;
        });
      }
    return n;
  }

 private:
  Conn c_;
};

// --- domains, record states, DKIM keys ---

class Domains final : public DomainRepo {
 public:
  explicit Domains(Conn c) : c_(c) {}
  core::Result<std::vector<DomainDetail>> claims(std::string_view domain) override {
    std::vector<const Tables::Claim*> hit;
    for (const auto& x : c_.t.domains)
      if (x.d.domain == domain) hit.push_back(&x);
    std::sort(hit.begin(), hit.end(), claim_order);
    return details(hit);
  }
  core::Result<std::optional<DomainDetail>> claim(std::string_view domain,
                                                  int64_t account_id) override {
    for (const auto& x : c_.t.domains)
      if (x.d.domain == domain && x.d.account_id == account_id)
        return std::optional<DomainDetail>(x.d);
    return std::optional<DomainDetail>();
  }
  core::Result<std::vector<DomainDetail>> of_account(int64_t account_id) override {
    std::vector<const Tables::Claim*> hit;
    for (const auto& x : c_.t.domains)
      if (x.d.account_id == account_id) hit.push_back(&x);
    std::sort(hit.begin(), hit.end(), [](auto* a, auto* b) { return a->d.domain < b->d.domain; });
    return details(hit);
  }
  core::Result<std::vector<std::string>> verified_names(int64_t account_id) override {
    std::vector<std::string> out;
    for (const auto& x : c_.t.domains)
      if (x.d.account_id == account_id && x.d.verified) out.push_back(x.d.domain);
    std::sort(out.begin(), out.end());
    return out;
  }
  core::Result<std::vector<DomainDetail>> all() override {
    std::vector<const Tables::Claim*> hit;
    for (const auto& x : c_.t.domains) hit.push_back(&x);
    std::sort(hit.begin(), hit.end(), [](auto* a, auto* b) {
      if (a->d.domain != b->d.domain) return a->d.domain < b->d.domain;
      return claim_order(a, b);
    });
    return details(hit);
  }
  core::Result<void> insert(const DomainDetail& d) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.domains) {
      if (x.d.domain != d.domain) continue;
      if (x.d.account_id == d.account_id || (d.verified && x.d.verified))
        return core::Error::conflict("store: insert domain: claim taken");
    }
    DomainDetail row = d;
    row.records.clear();
    c_.t.domains.push_back({++c_.t.seq, std::move(row), 0});
    return core::ok();
  }
  core::Result<void> update(const DomainDetail& d) override {
    if (auto w = c_.writable(); !w) return w;
    Tables::Claim* mine = nullptr;
    for (auto& x : c_.t.domains) {
      if (x.d.domain != d.domain) continue;
      if (x.d.account_id == d.account_id)
        mine = &x;
      else if (d.verified && x.d.verified)
        return core::Error::conflict("store: update domain: another claim is verified");
    }
    if (!mine) return core::Error::not_found(fmt::format("no such domain: {}", d.domain));
    mine->d.verified = d.verified;
    mine->d.dkim_mode = d.dkim_mode;
    mine->d.ed25519 = d.ed25519;
    mine->d.active_slot = d.active_slot;
    mine->d.next_slot = d.next_slot;
    mine->d.checked_ms = d.checked_ms;
    return core::ok();
  }
  core::Result<bool> remove(std::string_view domain, int64_t account_id) override {
    if (auto w = c_.writable(); !w) return w.error();
    return std::erase_if(c_.t.domains, [&](const auto& x) {
             return x.d.domain == domain && x.d.account_id == account_id;
           }) > 0;
  }
  core::Result<void> put_record(int64_t account_id, std::string_view domain,
                                const RecordState& r) override {
    if (auto w = c_.writable(); !w) return w;
    if (r.status == RecordStatus::error)
      return core::Error::invalid("store: a record state without a verdict (error) is not kept");
    for (auto& x : c_.t.domains) {
      if (x.d.domain != domain || x.d.account_id != account_id) continue;
      auto& recs = x.d.records;
      auto it = std::find_if(recs.begin(), recs.end(), [&](const auto& e) { return e.id == r.id; });
      if (it != recs.end()) {
        *it = r;
      } else {
        recs.push_back(r);
        std::sort(recs.begin(), recs.end(),
                  [](const auto& a, const auto& b) { return a.id < b.id; });
      }
      return core::ok();
    }
    // SQLite refuses a state of a claim that is not there (foreign key).
    return core::Error::conflict(fmt::format("store: record state of no claim: {}", domain));
  }
  core::Result<std::vector<StoredKey>> keys(int64_t account_id, std::string_view owner) override {
    std::vector<StoredKey> out;
    for (const auto& k : c_.t.dkim_keys)
      if (k.account_id == account_id && k.owner == owner) out.push_back(k);
    std::sort(out.begin(), out.end(), [](const StoredKey& a, const StoredKey& b) {
      // By slot, RSA before Ed25519 (one key per slot and algorithm).
      return std::tuple(a.slot, a.algorithm) < std::tuple(b.slot, b.algorithm);
    });
    return out;
  }
  core::Result<int64_t> put_key(const StoredKey& k, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w.error();
    std::erase_if(c_.t.dkim_keys, [&](const StoredKey& x) {
      return x.account_id == k.account_id && x.owner == k.owner && x.slot == k.slot &&
             x.algorithm == k.algorithm;
    });
    StoredKey row = k;
    row.version = c_.t.next_key_version++;
    row.created_ms = now_ms;
    c_.t.dkim_keys.push_back(row);
    return row.version;
  }
  core::Result<void> remove_keys(int64_t account_id, std::string_view owner) override {
    if (auto w = c_.writable(); !w) return w;
    std::erase_if(c_.t.dkim_keys, [&](const StoredKey& x) {
      return x.account_id == account_id && x.owner == owner;
    });
    return core::ok();
  }

 private:
  // The verified claim first, then the oldest, then the first made.
  static bool claim_order(const Tables::Claim* a, const Tables::Claim* b) {
    if (a->d.verified != b->d.verified) return a->d.verified;
    if (a->d.created_ms != b->d.created_ms) return a->d.created_ms < b->d.created_ms;
    return a->seq < b->seq;
  }
  static std::vector<DomainDetail> details(const std::vector<const Tables::Claim*>& hit) {
    std::vector<DomainDetail> out;
    for (auto* x : hit) out.push_back(x->d);
    return out;
  }
  Conn c_;
};

// --- senders and their links ---

class Senders final : public SenderRepo {
 public:
  explicit Senders(Conn c) : c_(c) {}
  core::Result<void> upsert(const Sender& s, int64_t) override {
    if (auto w = c_.writable(); !w) return w;
    for (auto& x : c_.t.senders)
      if (x.account_id == s.account_id && x.address == s.address) {
        x.verified = s.verified;
        return core::ok();
      }
    c_.t.senders.push_back(s);
    return core::ok();
  }
  core::Result<std::vector<Sender>> of_account(int64_t account_id) override {
    std::vector<Sender> out;
    for (const auto& x : c_.t.senders)
      if (x.account_id == account_id) out.push_back(x);
    std::sort(out.begin(), out.end(),
              [](const Sender& a, const Sender& b) { return a.address < b.address; });
    return out;
  }
  core::Result<bool> set_verified(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    for (auto& x : c_.t.senders)
      if (x.account_id == account_id && x.address == address) {
        x.verified = true;
        return true;
      }
    return false;
  }
  core::Result<bool> remove(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    const bool gone = std::erase_if(c_.t.senders, [&](const Sender& x) {
                        return x.account_id == account_id && x.address == address;
                      }) > 0;
    if (gone)
      if (auto r = remove_links(account_id, address); !r) return r.error();
    return gone;
  }
  core::Result<void> insert_link(const SenderLink& l) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.links)
      if (x.token_hash == l.token_hash)
        return core::Error::conflict("store: verification link: hash taken");
    c_.t.links.push_back(l);
    return core::ok();
  }
  core::Result<std::optional<SenderLink>> link(std::string_view token_hash) override {
    for (const auto& x : c_.t.links)
      if (x.token_hash == token_hash) return std::optional<SenderLink>(x);
    return std::optional<SenderLink>();
  }
  core::Result<void> remove_links(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w;
    std::erase_if(c_.t.links, [&](const SenderLink& x) {
      return x.account_id == account_id && x.address == address;
    });
    return core::ok();
  }
  core::Result<void> remove_links_expired_before(int64_t t) override {
    if (auto w = c_.writable(); !w) return w;
    std::erase_if(c_.t.links, [&](const SenderLink& x) { return x.expires_ms < t; });
    return core::ok();
  }

 private:
  Conn c_;
};

// --- settings rows ---

class Settings final : public SettingRepo {
 public:
  explicit Settings(Conn c) : c_(c) {}
  core::Result<std::vector<std::pair<std::string, std::string>>> rows(int64_t account_id) override {
    std::vector<std::pair<std::string, std::string>> out;  // the map's order: by key
    for (const auto& [k, v] : c_.t.settings)
      if (k.first == account_id) out.emplace_back(k.second, v);
    return out;
  }
  core::Result<void> put(int64_t account_id, std::string_view key,
                         std::string_view value) override {
    if (auto w = c_.writable(); !w) return w;
    c_.t.settings[{account_id, std::string(key)}] = std::string(value);
    return core::ok();
  }
  core::Result<void> remove(int64_t account_id, std::string_view key) override {
    if (auto w = c_.writable(); !w) return w;
    c_.t.settings.erase({account_id, std::string(key)});
    return core::ok();
  }

 private:
  Conn c_;
};

// --- suppressions ---

class Suppressions final : public SuppressionRepo {
 public:
  explicit Suppressions(Conn c) : c_(c) {}
  core::Result<void> upsert(const Suppression& s) override {
    if (auto w = c_.writable(); !w) return w;
    for (auto& x : c_.t.suppressions)
      if (x.account_id == s.account_id && x.address == s.address) {
        x = s;
        return core::ok();
      }
    c_.t.suppressions.push_back(s);
    return core::ok();
  }
  core::Result<std::vector<Suppression>> of_account(int64_t account_id) override {
    std::vector<Suppression> out;
    for (const auto& x : c_.t.suppressions)
      if (x.account_id == account_id) out.push_back(x);
    std::sort(out.begin(), out.end(), [](const Suppression& a, const Suppression& b) {
      if (a.created_ms != b.created_ms) return a.created_ms > b.created_ms;
      return a.address < b.address;
    });
    return out;
  }
  core::Result<bool> remove(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    return std::erase_if(c_.t.suppressions, [&](const Suppression& x) {
             return x.account_id == account_id && x.address == address;
           }) > 0;
  }
  core::Result<std::vector<std::string>> listed(
      int64_t account_id, const std::vector<std::string>& addresses) override {
    std::vector<std::string> out;
    for (const auto& a : addresses) {
      if (std::find(out.begin(), out.end(), a) != out.end()) continue;
      for (const auto& x : c_.t.suppressions)
        if (x.account_id == account_id && x.address == a) {
          out.push_back(a);
          break;
        }
    }
    return out;
  }
  core::Result<std::vector<Suppression>> search(int64_t account_id, std::string_view after,
                                                std::string_view q, std::string_view reason,
                                                size_t limit) override {
    // ASCII case-insensitive substring (SQLite's LIKE).
    auto has = [](std::string_view text, std::string_view part) {
      if (part.empty()) return true;
      auto lower = [](std::string_view v) {
        std::string o(v);
        for (char& c : o)
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return o;
      };
      return lower(text).find(lower(part)) != std::string::npos;
    };
    std::vector<Suppression> out;
    for (const auto& x : c_.t.suppressions)
      if (x.account_id == account_id && (after.empty() || x.address > after) && has(x.address, q) &&
          has(x.reason, reason))
        out.push_back(x);
    std::sort(out.begin(), out.end(),
              [](const Suppression& a, const Suppression& b) { return a.address < b.address; });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

 private:
  Conn c_;
};

// --- suspensions ---

class Suspensions final : public SuspensionRepo {
 public:
  explicit Suspensions(Conn c) : c_(c) {}
  core::Result<void> put(const Suspension& s) override {
    if (auto w = c_.writable(); !w) return w;
    auto& v = c_.t.suspensions;
    auto it = std::lower_bound(v.begin(), v.end(), s.account_id,
                               [](const Suspension& x, int64_t id) { return x.account_id < id; });
    if (it != v.end() && it->account_id == s.account_id)
      *it = s;
    else
      v.insert(it, s);
    return core::ok();
  }
  core::Result<bool> remove(int64_t account_id) override {
    if (auto w = c_.writable(); !w) return w.error();
    return std::erase_if(c_.t.suspensions,
                         [&](const Suspension& x) { return x.account_id == account_id; }) > 0;
  }
  core::Result<std::optional<Suspension>> of_account(int64_t account_id) override {
    for (const auto& x : c_.t.suspensions)
      if (x.account_id == account_id) return std::optional<Suspension>(x);
    return std::optional<Suspension>();
  }
  core::Result<std::vector<Suspension>> all() override { return c_.t.suspensions; }

 private:
  Conn c_;
};

// --- console sessions and login codes ---

class Sessions final : public SessionRepo {
 public:
  explicit Sessions(Conn c) : c_(c) {}
  core::Result<void> insert(const SessionRow& r) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.sessions)
      if (x.id_hash == r.id_hash) return core::Error::conflict("store: insert session: hash taken");
    if (r.account_id != 0 && !account_exists(r.account_id))
      return core::Error::conflict("store: insert session: no such account");
    c_.t.sessions.push_back(r);
    return core::ok();
  }
  core::Result<std::optional<SessionRow>> find(std::string_view id_hash) override {
    for (const auto& x : c_.t.sessions) {
      if (x.id_hash != id_hash) continue;
      if (x.account_id != 0 && !key_active(x)) break;
      return std::optional<SessionRow>(x);
    }
    return std::optional<SessionRow>();
  }
  core::Result<void> touch(std::string_view id_hash, int64_t last_seen_ms) override {
    if (auto w = c_.writable(); !w) return w;
    for (auto& x : c_.t.sessions)
      if (x.id_hash == id_hash) x.last_seen_ms = std::max(x.last_seen_ms, last_seen_ms);
    return core::ok();
  }
  core::Result<void> remove(std::string_view id_hash) override {
    if (auto w = c_.writable(); !w) return w;
    std::erase_if(c_.t.sessions, [&](const SessionRow& x) { return x.id_hash == id_hash; });
    return core::ok();
  }
  core::Result<std::vector<SessionRow>> of_principal(int64_t account_id) override {
    std::vector<SessionRow> out;
    for (const auto& x : c_.t.sessions)
      if (x.account_id == account_id) out.push_back(x);
    std::sort(out.begin(), out.end(), [](const SessionRow& a, const SessionRow& b) {
      return std::tie(b.created_ms, b.id_hash) < std::tie(a.created_ms, a.id_hash);
    });
    return out;
  }
  core::Result<void> remove_stale(int64_t ended_by, int64_t seen_by) override {
    if (auto w = c_.writable(); !w) return w;
    std::erase_if(c_.t.sessions, [&](const SessionRow& x) {
      return x.expires_ms <= ended_by || x.last_seen_ms <= seen_by;
    });
    return core::ok();
  }
  core::Result<void> insert_code(const LoginCodeRow& r) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.login_codes)
      if (x.code_hash == r.code_hash)
        return core::Error::conflict("store: insert login code: hash taken");
    c_.t.login_codes.push_back(r);
    return core::ok();
  }
  core::Result<std::optional<LoginCodeRow>> code(std::string_view code_hash) override {
    for (const auto& x : c_.t.login_codes)
      if (x.code_hash == code_hash) return std::optional<LoginCodeRow>(x);
    return std::optional<LoginCodeRow>();
  }
  core::Result<bool> remove_code(std::string_view code_hash) override {
    if (auto w = c_.writable(); !w) return w.error();
    return std::erase_if(c_.t.login_codes,
                         [&](const LoginCodeRow& x) { return x.code_hash == code_hash; }) > 0;
  }
  core::Result<void> remove_codes_expired(int64_t t) override {
    if (auto w = c_.writable(); !w) return w;
    std::erase_if(c_.t.login_codes, [&](const LoginCodeRow& x) { return x.expires_ms <= t; });
    return core::ok();
  }

 private:
  bool account_exists(int64_t id) const {
    return std::any_of(c_.t.accounts.begin(), c_.t.accounts.end(),
                       [&](const Account& a) { return a.id == id; });
  }
  // The API key that made an account's session is active and the account's.
  bool key_active(const SessionRow& s) const {
    return std::any_of(c_.t.api_keys.begin(), c_.t.api_keys.end(), [&](const auto& k) {
      return k.row.hash == s.api_key_hash && k.row.key.revoked_ms == 0 &&
             k.row.key.account_id == s.account_id;
    });
  }
  Conn c_;
};

// --- hourly counters (kept by Events::append) ---

class Stats final : public StatsRepo {
 public:
  explicit Stats(Conn c) : c_(c) {}
  core::Result<std::vector<StatsCount>> hourly(int64_t account_id, int64_t from_ms,
                                               int64_t to_ms) override {
    // By hour, then event: a map keyed so, summed over accounts when account_id is 0.
    std::map<std::pair<int64_t, std::string>, int64_t> sum;
    for (const auto& [k, n] : c_.t.stats) {
      const auto& [acc, hour, event] = k;
      if ((account_id != 0 && acc != account_id) || hour < from_ms || hour >= to_ms) continue;
      sum[{hour, event}] += n;
    }
    std::vector<StatsCount> out;
    for (const auto& [k, n] : sum) out.push_back({k.first, k.second, n});
    return out;
  }

 private:
  Conn c_;
};

// --- captured sandbox mail ---

class Captures final : public CaptureRepo {
 public:
  explicit Captures(Conn c) : c_(c) {}
  core::Result<void> insert(const CapturedMessage& m) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& x : c_.t.captured)
      if (x.id == m.id || (x.queue_id == m.queue_id && x.recipients == m.recipients))
        return core::Error::conflict("store: store captured message: id or delivery taken");
    if (std::none_of(c_.t.accounts.begin(), c_.t.accounts.end(),
                     [&](const Account& a) { return a.id == m.account_id; }))
      return core::Error::conflict("store: store captured message: no such account");
    c_.t.captured.push_back(m);
    return core::ok();
  }
  core::Result<std::optional<std::string>> by_delivery(
      std::string_view queue_id, const std::vector<std::string>& recipients) override {
    for (const auto& x : c_.t.captured)
      if (x.queue_id == queue_id && x.recipients == recipients)
        return std::optional<std::string>(x.id);
    return std::optional<std::string>();
  }
  core::Result<std::vector<CapturedMessage>> page(
      int64_t account_id, const std::optional<std::pair<int64_t, std::string>>& after,
      size_t limit) override {
    std::vector<CapturedMessage> out;
    for (const auto& x : newest_first(account_id)) {
      if (after && std::tie(x->captured_ms, x->id) >= std::tie(after->first, after->second))
        continue;
      if (out.size() == limit) break;
      CapturedMessage m = *x;
      m.raw.clear();
      out.push_back(std::move(m));
    }
    return out;
  }
  core::Result<std::optional<CapturedMessage>> get(int64_t account_id, std::string_view id,
                                                   bool with_raw) override {
    for (const auto& x : c_.t.captured)
      if (x.account_id == account_id && x.id == id) {
        CapturedMessage m = x;
        if (!with_raw) m.raw.clear();
        return std::optional<CapturedMessage>(std::move(m));
      }
    return std::optional<CapturedMessage>();
  }
  core::Result<size_t> trim(int64_t account_id, size_t keep) override {
    if (auto w = c_.writable(); !w) return w.error();
    auto order = newest_first(account_id);
    std::vector<std::string> gone;
    for (size_t i = keep; i < order.size(); ++i) gone.push_back(order[i]->id);
    std::erase_if(c_.t.captured, [&](const CapturedMessage& x) {
      return std::find(gone.begin(), gone.end(), x.id) != gone.end();
    });
    return gone.size();
  }
  core::Result<size_t> remove_before(int64_t t) override {
    if (auto w = c_.writable(); !w) return w.error();
    return std::erase_if(c_.t.captured,
                         [&](const CapturedMessage& x) { return x.captured_ms < t; });
  }

 private:
  // The account's messages: captured_ms descending, then id descending.
  std::vector<const CapturedMessage*> newest_first(int64_t account_id) const {
    std::vector<const CapturedMessage*> out;
    for (const auto& x : c_.t.captured)
      if (x.account_id == account_id) out.push_back(&x);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
      return std::tie(b->captured_ms, b->id) < std::tie(a->captured_ms, a->id);
    });
    return out;
  }
  Conn c_;
};

// --- delivery events ---

class Events final : public EventRepo {
 public:
  explicit Events(Conn c) : c_(c) {}
  core::Result<void> append(const std::vector<DeliveryEvent>& events) override {
    if (auto w = c_.writable(); !w) return w;
    for (const auto& e : events) {
      // Row by row, like SQLite: the rows before a bad one are written to the Tx's copy, which
      // the caller then drops.
      if (e.queue_id.empty()) return core::Error::invalid("delivery event without a queue id");
      if (!e.key.empty() && !c_.t.event_keys.insert(e.key).second) continue;  // stored already
      c_.t.events.push_back({++c_.t.seq, e});
      // The hourly counter, like SQLite's trigger (% truncates toward zero in both).
      ++c_.t.stats[{e.account_id, e.time_ms - e.time_ms % 3'600'000,
                    std::string(core::to_string(e.event))}];
    }
    return core::ok();
  }
  core::Result<std::vector<DeliveryEvent>> of_queue(std::string_view queue_id) override {
    std::vector<const Tables::Event*> hit;
    for (const auto& x : c_.t.events)
      if (x.e.queue_id == queue_id) hit.push_back(&x);
    std::sort(hit.begin(), hit.end(), [](auto* a, auto* b) {
      return std::tuple(a->e.time_ms, a->seq) < std::tuple(b->e.time_ms, b->seq);
    });
    std::vector<DeliveryEvent> out;
    for (auto* x : hit) out.push_back(x->e);
    return out;
  }

 private:
  Conn c_;
};

// --- the unit of work ---

class MemoryTx final : public Tx {
 public:
  MemoryTx(std::unique_lock<std::mutex> lock, std::shared_ptr<Storage> s, Mode mode)
      : lock_(std::move(lock)),
        storage_(std::move(s)),
        work_(mode == Mode::write ? storage_->tables : Tables{}),
        conn_{mode == Mode::write ? work_ : storage_->tables, mode},
        accounts_(conn_),
        credentials_(conn_),
        api_keys_(conn_),
        domains_(conn_),
        senders_(conn_),
        settings_(conn_),
        suppressions_(conn_),
        suspensions_(conn_),
        sessions_(conn_),
        stats_(conn_),
        captured_(conn_),
        events_(conn_) {}
  AccountRepo& accounts() override { return accounts_; }
  CredentialRepo& credentials() override { return credentials_; }
  ApiKeyRepo& api_keys() override { return api_keys_; }
  DomainRepo& domains() override { return domains_; }
  SenderRepo& senders() override { return senders_; }
  SettingRepo& settings() override { return settings_; }
  SuppressionRepo& suppressions() override { return suppressions_; }
  SuspensionRepo& suspensions() override { return suspensions_; }
  SessionRepo& sessions() override { return sessions_; }
  StatsRepo& stats() override { return stats_; }
  CaptureRepo& captured() override { return captured_; }
  EventRepo& events() override { return events_; }
  core::Result<void> commit() override {
    if (done_) return core::Error::internal("store: transaction already ended");
    done_ = true;
    if (conn_.mode == Mode::write) storage_->tables = std::move(work_);
    lock_.unlock();  // the storage is free for the next Tx; this one is done
    return core::ok();
  }

 private:
  std::unique_lock<std::mutex> lock_;
  std::shared_ptr<Storage> storage_;
  Tables work_;  // a write Tx's copy, swapped in at commit
  Conn conn_;
  bool done_ = false;
  Accounts accounts_;
  Credentials credentials_;
  ApiKeys api_keys_;
  Domains domains_;
  Senders senders_;
  Settings settings_;
  Suppressions suppressions_;
  Suspensions suspensions_;
  Sessions sessions_;
  Stats stats_;
  Captures captured_;
  Events events_;
};

class MemoryDatabase final : public Database {
 public:
  explicit MemoryDatabase(std::shared_ptr<Storage> s) : s_(std::move(s)) {}
  core::Result<std::unique_ptr<Tx>> begin(Mode mode) override {
    // Waits like SQLite's busy handler: try, then sleep a little longer each time, up to
    // kBusyTimeout. (Not std::timed_mutex::try_lock_for: clang-14's ThreadSanitizer does not
    // see pthread_mutex_clocklock, and reports every later unlock as an unlock of an unlocked
    // mutex.)
    const auto deadline = std::chrono::steady_clock::now() + kBusyTimeout;
    auto pause = std::chrono::microseconds(20);
    while (!s_->db_mu.try_lock()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return core::Error::unavailable("store: database is locked");
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(2000));
    }
    std::unique_lock lock(s_->db_mu, std::adopt_lock);
    return std::unique_ptr<Tx>(std::make_unique<MemoryTx>(std::move(lock), s_, mode));
  }

 private:
  std::shared_ptr<Storage> s_;
};

// --- message log ---

class MemoryMessageLog final : public MessageLog {
 public:
  explicit MemoryMessageLog(std::shared_ptr<Storage> s) : s_(std::move(s)) {}

  core::Result<void> record_accepted(const std::vector<MessageRecord>& records) override {
    std::vector<MessageRecord> rows;
    for (const auto& r : records) {
      auto row = message_log_rules::stored_form(r);
      if (!row) return row.error();
      rows.push_back(std::move(row).value());
    }
    std::lock_guard lock(s_->log_mu);
    for (auto& r : rows) s_->messages.try_emplace(r.message_id, std::move(r));
    return core::ok();
  }
  core::Result<void> update_status(const std::vector<StatusUpdate>& updates) override {
    std::lock_guard lock(s_->log_mu);
    for (const auto& u : updates) {
      auto it = s_->messages.find(u.message_id);
      if (it == s_->messages.end()) continue;
      auto& m = it->second;
      if (!message_log_rules::status_may_move(m.status, u.status)) continue;
      m.status = u.status;
      m.updated_ms = std::max(m.updated_ms, u.time_ms);
    }
    return core::ok();
  }
  core::Result<std::optional<MessageRecord>> find(const std::string& message_id) override {
    std::lock_guard lock(s_->log_mu);
    auto it = s_->messages.find(message_id);
    if (it == s_->messages.end()) return std::optional<MessageRecord>();
    return std::optional<MessageRecord>(it->second);
  }
  core::Result<std::vector<MessageRecord>> for_queue(const std::string& queue_id) override {
    std::vector<MessageRecord> out;
    {
      std::lock_guard lock(s_->log_mu);
      for (const auto& [id, m] : s_->messages)
        if (m.queue_id == queue_id) out.push_back(m);
    }
    std::sort(out.begin(), out.end(), [](const MessageRecord& a, const MessageRecord& b) {
      return std::tuple(a.rcpt_index, a.message_id) < std::tuple(b.rcpt_index, b.message_id);
    });
    return out;
  }
  core::Result<MessagePage> search(const MessageQuery& q) override {
    auto cursor = message_log_rules::checked_cursor(q);
    if (!cursor) return cursor.error();
    const std::string rcpt =
        q.recipient.empty() ? std::string() : message_log_rules::canonical_recipient(q.recipient);
    std::vector<MessageRecord> hit;
    {
      std::lock_guard lock(s_->log_mu);
      for (const auto& [id, m] : s_->messages) {
        if (q.account_id != 0 && m.account_id != q.account_id) continue;
        if (!rcpt.empty() && m.recipient != rcpt) continue;
        if (!q.bulk_id.empty() && m.bulk_id != q.bulk_id) continue;
        if (q.status && m.status != *q.status) continue;
        if (!q.queue_id.empty() && m.queue_id != q.queue_id) continue;
        if (q.from_ms != 0 && m.created_ms < q.from_ms) continue;
        if (q.to_ms != 0 && m.created_ms >= q.to_ms) continue;
        if (*cursor && !message_log_rules::after_cursor(m, **cursor)) continue;
        hit.push_back(m);
      }
    }
    // Newest first: created_ms descending, then message_id descending.
    std::sort(hit.begin(), hit.end(), [](const MessageRecord& a, const MessageRecord& b) {
      return std::tie(b.created_ms, b.message_id) < std::tie(a.created_ms, a.message_id);
    });
    MessagePage page;
    if (hit.size() > q.limit) {
      hit.resize(q.limit);
      page.next_cursor = message_log_rules::encode_cursor(hit.back());
    }
    page.items = std::move(hit);
    return page;
  }

 private:
  std::shared_ptr<Storage> s_;
};

// --- outbox ---

class MemoryOutbox final : public Outbox {
 public:
  MemoryOutbox(std::shared_ptr<Storage> s, OutboxOptions opt)
      : s_(std::move(s)), opt_(std::move(opt)) {}

  core::Result<void> enqueue(const std::vector<OutboxItem>& items, int64_t now_ms) override {
    if (auto ok = check_items(items); !ok) return ok;
    std::lock_guard lock(s_->outbox_mu);
    for (const auto& it : items) {
      if (!it.item_key.empty() && !s_->outbox_keys.insert(it.item_key).second) continue;
      OutboxItem row = it;
      row.id = s_->next_outbox_id++;
      if (row.created_ms == 0) row.created_ms = now_ms;
      if (row.next_attempt_ms == 0) row.next_attempt_ms = now_ms;
      row.attempts = 0;
      row.last_error.clear();
      row.last_code = 0;
      row.state = OutboxState::pending;
      row.lease_owner.clear();
      row.lease_token = 0;
      s_->outbox.push_back(std::move(row));
    }
    return core::ok();
  }
  using Outbox::due;
  core::Result<std::vector<std::vector<OutboxItem>>> due(
      int64_t now_ms, size_t max_batches, size_t max_per_batch,
      const std::vector<std::string>& skip_urls) override {
    std::vector<std::vector<OutboxItem>> out;
    if (max_batches == 0 || max_per_batch == 0) return out;
    auto skipped = [&](const OutboxItem& i) {
      return std::find(skip_urls.begin(), skip_urls.end(), i.url) != skip_urls.end();
    };
    std::lock_guard lock(s_->outbox_mu);
    using Group = std::tuple<int64_t, OutboxKind, std::string, std::string>;
    auto group_of = [](const OutboxItem& i) {
      return Group(i.account_id, i.kind, i.url, i.content_type);
    };
    // Groups in the order of their oldest due item (items are in id order).
    std::vector<Group> groups;
    for (const auto& i : s_->outbox) {
      if (i.state != OutboxState::pending || i.next_attempt_ms > now_ms || skipped(i)) continue;
      Group g = group_of(i);
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
      if (groups.size() == max_batches) break;
    }
    const int64_t token = new_lease_token();
    for (const auto& g : groups) {
      // The group's items due earliest (ties: lowest id), handed out in id order.
      std::vector<OutboxItem*> take;
      for (auto& i : s_->outbox)
        if (i.state == OutboxState::pending && i.next_attempt_ms <= now_ms && group_of(i) == g)
          take.push_back(&i);
      std::stable_sort(take.begin(), take.end(), [](const OutboxItem* a, const OutboxItem* b) {
        return a->next_attempt_ms < b->next_attempt_ms;
      });
      if (take.size() > max_per_batch) take.resize(max_per_batch);
      std::vector<OutboxItem> batch;
      for (auto* i : take) {
        i->next_attempt_ms = now_ms + opt_.lease_ms;  // the lease
        i->lease_owner = opt_.owner;
        i->lease_token = token;
        batch.push_back(*i);
      }
      sort_by_id(batch);
      if (!batch.empty()) out.push_back(std::move(batch));
    }
    return out;
  }
  core::Result<size_t> mark_sent(const std::vector<OutboxClaim>& claims, int64_t now_ms,
                                 int code) override {
    std::lock_guard lock(s_->outbox_mu);
    size_t changed = 0;
    for (const auto& c : claims)
      if (auto* i = held(c)) {
        ++changed;
        i->lease_owner.clear();
        i->state = OutboxState::sent;
        ++i->attempts;
        i->last_error.clear();
        i->next_attempt_ms = now_ms;
        i->last_code = code;
      }
    return changed;
  }
  core::Result<size_t> mark_failed(const std::vector<OutboxClaim>& claims, int64_t next_attempt_ms,
                                   const std::string& error, bool give_up, int code) override {
    std::lock_guard lock(s_->outbox_mu);
    size_t changed = 0;
    for (const auto& c : claims)
      if (auto* i = held(c)) {
        ++changed;
        i->lease_owner.clear();
        ++i->attempts;
        i->last_error = error;
        i->last_code = code;
        i->next_attempt_ms = next_attempt_ms;
        if (give_up) i->state = OutboxState::failed;
      }
    return changed;
  }
  core::Result<uint64_t> backlog() override {
    std::lock_guard lock(s_->outbox_mu);
    uint64_t n = 0;
    for (const auto& i : s_->outbox) n += i.state == OutboxState::pending;
    return n;
  }
  core::Result<int64_t> next_due_ms() override {
    std::lock_guard lock(s_->outbox_mu);
    int64_t t = 0;
    for (const auto& i : s_->outbox)
      if (i.state == OutboxState::pending && (t == 0 || i.next_attempt_ms < t))
        t = i.next_attempt_ms;
    return t;
  }
  core::Result<std::vector<OutboxItem>> for_message(const std::string& message_id) override {
    std::lock_guard lock(s_->outbox_mu);
    std::vector<OutboxItem> out;
    for (const auto& i : s_->outbox)
      if (i.message_id == message_id) out.push_back(i);
    return out;
  }

  core::Result<OutboxPage> list(int64_t account_id, size_t limit,
                                const std::string& cursor) override {
    if (limit < 1 || limit > 1000) return core::Error::invalid("limit must be 1..1000");
    std::optional<int64_t> before;
    if (!cursor.empty()) {
      auto c = decode_cursor("w1:", cursor);
      if (!c || c->second != "i") return core::Error::invalid("invalid cursor");
      before = c->first;
    }
    std::lock_guard lock(s_->outbox_mu);
    OutboxPage page;
    // Newest first: the rows are in ascending id order.
    for (auto i = s_->outbox.rbegin(); i != s_->outbox.rend(); ++i) {
      if (i->account_id != account_id || (before && i->id >= *before)) continue;
      if (page.items.size() == limit) {
        page.next_cursor = encode_cursor("w1:", page.items.back().id, "i");
        break;
      }
      page.items.push_back(*i);
    }
    return page;
  }
  core::Result<std::optional<OutboxItem>> find(int64_t account_id, int64_t id) override {
    std::lock_guard lock(s_->outbox_mu);
    for (const auto& i : s_->outbox)
      if (i.id == id && i.account_id == account_id) return std::optional<OutboxItem>(i);
    return std::optional<OutboxItem>();
  }
  core::Result<bool> retry_now(int64_t account_id, int64_t id, int64_t now_ms) override {
    std::lock_guard lock(s_->outbox_mu);
    for (auto& i : s_->outbox)
      if (i.id == id && i.account_id == account_id && i.state != OutboxState::sent) {
        i.state = OutboxState::pending;
        i.next_attempt_ms = now_ms;
        return true;
      }
    return false;
  }

 private:
  // The pending item still held under claim c by this owner (fencing), else null.
  OutboxItem* held(const OutboxClaim& c) {
    for (auto& i : s_->outbox)
      if (i.id == c.id && i.state == OutboxState::pending && i.lease_owner == opt_.owner &&
          i.lease_token == c.token)
        return &i;
    return nullptr;
  }
  std::shared_ptr<Storage> s_;
  const OutboxOptions opt_;
};

// --- the DNS re-check queue (domain_checks.hpp): under the database's lock, like a Tx ---

class MemoryDomainChecks final : public DomainChecks {
 public:
  explicit MemoryDomainChecks(std::shared_ptr<Storage> s) : s_(std::move(s)) {}

  core::Result<std::vector<DomainCheckClaim>> claim(int64_t now_ms, int64_t interval_ms,
                                                    int64_t lease_ms, size_t limit) override {
    std::lock_guard lock(s_->db_mu);
    auto& claims = s_->tables.domains;
    std::vector<Tables::Claim*> due;
    for (auto& x : claims) {
      if (x.next_check_ms == 0)
        x.next_check_ms = now_ms + interval_ms;
      else if (x.next_check_ms <= now_ms)
        due.push_back(&x);
    }
    std::sort(due.begin(), due.end(), [](const Tables::Claim* a, const Tables::Claim* b) {
      return std::tie(a->next_check_ms, a->d.domain, a->d.account_id) <
             std::tie(b->next_check_ms, b->d.domain, b->d.account_id);
    });
    if (due.size() > limit) due.resize(limit);
    std::vector<DomainCheckClaim> out;
    for (auto* x : due) {
      x->next_check_ms = now_ms + lease_ms;
      out.push_back({x->d.account_id, x->d.domain, x->next_check_ms});
    }
    return out;
  }

  core::Result<bool> done(const DomainCheckClaim& c, int64_t next_ms) override {
    std::lock_guard lock(s_->db_mu);
    for (auto& x : s_->tables.domains)
      if (x.d.account_id == c.account_id && x.d.domain == c.domain &&
          x.next_check_ms == c.lease_until_ms) {
        x.next_check_ms = next_ms;
        return true;
      }
    return false;
  }

 private:
  std::shared_ptr<Storage> s_;
};

// --- the node registry (node_registry.hpp): under its own lock, the rule is plan_check_in ---

class MemoryNodeRegistry final : public NodeRegistry {
 public:
  explicit MemoryNodeRegistry(std::shared_ptr<Storage> s) : s_(std::move(s)) {}

  core::Result<CheckInPlan> check_in(const NodeRecord& me, int64_t now_ms, int64_t lease_ms,
                                     const CheckInRound& round) override {
    std::lock_guard lock(s_->nodes_mu);
    std::optional<NodeRecord> current;
    if (auto it = s_->nodes.find(me.node_id); it != s_->nodes.end()) current = it->second;
    CheckInPlan plan = plan_check_in(current, me, now_ms, lease_ms, round);
    if (writes(plan.verdict)) s_->nodes[me.node_id] = plan.row;
    return plan;
  }

  core::Result<void> check_out(const NodeRecord& me, int64_t now_ms) override {
    std::lock_guard lock(s_->nodes_mu);
    auto it = s_->nodes.find(me.node_id);
    if (it != s_->nodes.end() && it->second.instance == me.instance && it->second.run == me.run)
      it->second.stopped_ms = now_ms;
    return core::ok();
  }

  core::Result<std::vector<NodeRecord>> list() override {
    std::lock_guard lock(s_->nodes_mu);
    std::vector<NodeRecord> out;
    for (const auto& [id, n] : s_->nodes) out.push_back(n);
    return out;
  }

 private:
  std::shared_ptr<Storage> s_;
};

}  // namespace

core::Result<std::unique_ptr<Database>> open_memory_database(const std::string& name) {
  return std::unique_ptr<Database>(std::make_unique<MemoryDatabase>(storage(name)));
}

core::Result<std::unique_ptr<MessageLog>> open_memory_message_log(const std::string& name) {
  return std::unique_ptr<MessageLog>(std::make_unique<MemoryMessageLog>(storage(name)));
}

core::Result<std::unique_ptr<Outbox>> open_memory_outbox(const std::string& name,
                                                         OutboxOptions opt) {
  return std::unique_ptr<Outbox>(std::make_unique<MemoryOutbox>(storage(name), std::move(opt)));
}

core::Result<std::unique_ptr<DomainChecks>> open_memory_domain_checks(const std::string& name) {
  return std::unique_ptr<DomainChecks>(std::make_unique<MemoryDomainChecks>(storage(name)));
}

core::Result<std::unique_ptr<NodeRegistry>> open_memory_node_registry(const std::string& name) {
  return std::unique_ptr<NodeRegistry>(std::make_unique<MemoryNodeRegistry>(storage(name)));
}

}  // namespace tern::store
