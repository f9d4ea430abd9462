// Store on SQLite (embedded default). One connection per Store, serialized by a mutex; other
// processes (the CLI next to a running server) open their own connection to the same file.
// WAL lets readers proceed while one writer writes; busy_timeout makes writers queue instead of
// failing; every multi-statement write is one BEGIN IMMEDIATE transaction.
// Argon2id work (hashing at account creation, verification at AUTH) runs outside the mutex so
// one slow AUTH never stalls other store calls.
// Account settings are rows of `settings` (absent = default); relay.password is sealed like DKIM
// private keys. Delivery events are written in batches through one prepared statement.
#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "core/address.hpp"
#include "core/clock.hpp"
#include "store/account_name.hpp"
#include "store/db_guard.hpp"
#include "store/key_box.hpp"
#include "store/secrets.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_schema.hpp"
#include "store/store.hpp"
#include "store/verify_cache.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

constexpr std::string_view kApiKeyUser = "App";
// Longer inputs are refused before any hashing: no real password or key is this long, and
// hashing megabytes per AUTH attempt would be a cheap way to burn CPU.
constexpr size_t kMaxSecretLen = 1024;

int64_t now_ms() { return core::SystemClock().now_ms(); }

core::Result<void> create_private_file(const std::string& path) {
  if (path == ":memory:" || path.starts_with("file:")) return core::ok();
  // 0600: the file holds password hashes and account data. SQLite creates -wal and -shm
  // with the same mode as the database file.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return core::Error::temp(fmt::format("store: cannot open {}: {}", path, std::strerror(errno)));
  ::close(fd);
  return core::ok();
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(Db db) : db_(std::move(db)), cache_(clock_) {}

  core::Result<CreatedAccount> create_account(const std::string& name) override;
  core::Result<std::vector<Account>> list_accounts() override;
  core::Result<std::optional<Account>> find_account(const std::string& name_or_id) override;
  core::Result<std::string> create_api_key(int64_t account_id) override;
  core::Result<void> revoke_api_key(int64_t account_id, const std::string& key_prefix) override;
  core::Result<std::vector<ApiKey>> list_api_keys(int64_t account_id) override;
  core::Result<std::optional<int64_t>> verify_credentials(const std::string& username,
                                                          const std::string& password) override;
  core::Result<void> add_domain(int64_t account_id, const std::string& domain, bool verified,
                                int max_unverified) override;
  core::Result<std::vector<Domain>> list_domains(int64_t account_id) override;
  core::Result<void> add_sender(int64_t account_id, const std::string& address,
                                bool verified) override;
  core::Result<std::vector<Sender>> list_senders(int64_t account_id) override;
  core::Result<policy::AccountContext> account_context(int64_t account_id) override;
  core::Result<std::vector<SigningKey>> signing_keys(int64_t account_id,
                                                     const std::string& domain) override;
  core::Result<std::optional<DomainDetail>> find_domain(const std::string& domain,
                                                        int64_t account_id) override;
  core::Result<std::vector<DomainDetail>> all_domains() override;
  core::Result<void> set_domain_dkim(const std::string& domain, const std::string& mode,
                                     bool ed25519, int64_t account_id) override;
  core::Result<void> save_domain_check(const DomainCheckUpdate& u) override;
  core::Result<std::vector<DkimKey>> put_dkim_keys(int64_t account_id, const std::string& owner,
                                                   std::vector<DkimKey> keys,
                                                   bool rotation) override;
  core::Result<std::vector<DkimKey>> dkim_keys(int64_t account_id, const std::string& owner,
                                               bool with_private) override;
  void set_master_key(const std::string& key32) override {
    std::lock_guard lock(mu_);
    master_key_ = key32;
  }
  core::Result<void> set_account_settings(
      int64_t account_id, const std::vector<std::pair<std::string, std::string>>& kv) override;
  core::Result<AccountSettings> account_settings(int64_t account_id, bool with_secrets) override;
  core::Result<void> add_suppression(const Suppression& s) override;
  core::Result<std::vector<Suppression>> list_suppressions(int64_t account_id) override;
  core::Result<void> remove_suppression(int64_t account_id, const std::string& address) override;
  core::Result<bool> is_suppressed(int64_t account_id, const std::string& address) override;
  core::Result<void> record_events(const std::vector<DeliveryEvent>& events) override;
  core::Result<std::vector<DeliveryEvent>> events_for(const std::string& queue_id) override;
  core::Result<std::optional<int64_t>> verify_api_key(const std::string& key) override;
  core::Result<void> delete_account(int64_t account_id) override;
  core::Result<std::vector<Credential>> list_credentials(int64_t account_id) override;
  core::Result<CreatedCredential> create_credential(int64_t account_id,
                                                    const std::string& username) override;
  core::Result<void> delete_credential(int64_t account_id, const std::string& username) override;
  core::Result<void> delete_domain(int64_t account_id, const std::string& domain) override;
  core::Result<void> delete_sender(int64_t account_id, const std::string& address) override;
  core::Result<std::string> create_sender_verification(int64_t account_id,
                                                       const std::string& address,
                                                       int64_t expires_ms) override;
  core::Result<SenderVerification> consume_sender_verification(const std::string& token,
                                                               int64_t now_ms) override;

 private:
  // Callers hold mu_.
  // `where` may use ?1 (a domain) and ?2 (an account id).
  core::Result<std::vector<DomainDetail>> domains_where(std::string_view where,
                                                        std::string_view domain = {},
                                                        int64_t account_id = 0,
                                                        std::string_view order = "domain");
  // The account whose claim on `domain` an operation addresses: account_id itself when it has
  // one, else (0) the verified claim, else the oldest. nullopt when there is none.
  core::Result<std::optional<int64_t>> claim_of(const std::string& domain, int64_t account_id);
  // The domain became verified for account_id: every other account's claim on it goes, with
  // its record states (cascade) and its direct DKIM keys.
  core::Result<void> drop_other_claims(const std::string& domain, int64_t account_id);
  core::Result<std::vector<DkimKey>> keys_of(int64_t account_id, std::string_view owner,
                                             bool with_private);
  core::Result<void> upsert_record(int64_t account_id, const std::string& domain,
                                   const RecordState& r);
  // Callers hold mu_.
  core::Result<std::optional<Account>> account_where(std::string_view where, auto bind_value);
  core::Result<bool> account_exists(int64_t id);
  core::Result<void> require_account(int64_t id);
  // The account's settings rows applied over the defaults. Callers hold mu_.
  core::Result<AccountSettings> settings_of(int64_t account_id, bool with_secrets);
  core::Result<void> rotate_webhook_secret(
      int64_t account_id, const std::string& next,
      const std::function<core::Result<void>(std::string_view, std::string_view)>& write);

  std::mutex mu_;
  std::string master_key_;  // empty: keys stored as PEM
  Db db_;
  core::SystemClock clock_;
  VerifyCache cache_;
};

Account account_from_row(const Stmt& s) {
  return Account{s.int64(0), s.text(1), s.text(2), s.int64(3)};
}

core::Result<std::optional<Account>> SqliteStore::account_where(std::string_view where,
                                                                auto bind_value) {
  Stmt s(db_, fmt::format("SELECT id, name, code, created_ms FROM accounts WHERE {}", where));
  s.bind(1, bind_value);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<Account>();
  if (rc != SQLITE_ROW) return s.error(rc, "find account");
  return std::optional<Account>(account_from_row(s));
}

core::Result<bool> SqliteStore::account_exists(int64_t id) {
  Stmt s(db_, "SELECT 1 FROM accounts WHERE id = ?");
  s.bind(1, id);
  int rc = s.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return s.error(rc, "find account");
}

core::Result<void> SqliteStore::require_account(int64_t id) {
  auto e = account_exists(id);
  if (!e) return e.error();
  if (!*e) return core::Error::perm(fmt::format("no account with id {}", id));
  return core::ok();
}

core::Result<CreatedAccount> SqliteStore::create_account(const std::string& name) {
  if (!valid_account_name(name))
    return core::Error::perm(
        "invalid account name: use 1-64 characters of a-z 0-9 . _ - starting with a letter or "
        "digit");
  std::string password = secrets::random_password();
  auto hash = secrets::hash_password(password);  // Argon2id, outside the mutex
  if (!hash) return hash.error();

  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  auto existing = account_where("name = ?", std::string_view(name));
  if (!existing) return existing.error();
  if (*existing) return core::Error::perm(fmt::format("account \"{}\" already exists", name));

  const int64_t now = now_ms();
  Account acc{0, name, {}, now};
  // Codes are random (40 bits); retry the rare collision rather than fail.
  for (int attempt = 0;; ++attempt) {
    acc.code = secrets::random_account_code();
    auto taken = account_where("code = ?", std::string_view(acc.code));
    if (!taken) return taken.error();
    if (!*taken) break;
    if (attempt == 10) return core::Error::temp("store: could not pick a unique account code");
  }
  Stmt ins(db_, "INSERT INTO accounts(name, code, created_ms) VALUES(?, ?, ?)");
  ins.bind(1, std::string_view(acc.name)).bind(2, std::string_view(acc.code)).bind(3, now);
  if (auto r = ins.run("insert account"); !r) return r.error();
  acc.id = db_.last_insert_rowid();

  Stmt cred(db_,
            "INSERT INTO credentials(account_id, username, password_hash, created_ms) "
            "VALUES(?, ?, ?, ?)");
  cred.bind(1, acc.id)
      .bind(2, std::string_view(name))
      .bind(3, std::string_view(*hash))
      .bind(4, now);
  if (auto r = cred.run("insert credential"); !r) return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  return CreatedAccount{acc, name, std::move(password)};
}

core::Result<std::vector<Account>> SqliteStore::list_accounts() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT id, name, code, created_ms FROM accounts ORDER BY id");
  std::vector<Account> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(account_from_row(s));
  if (rc != SQLITE_DONE) return s.error(rc, "list accounts");
  return out;
}

core::Result<std::optional<Account>> SqliteStore::find_account(const std::string& name_or_id) {
  std::lock_guard lock(mu_);
  // A name wins over an id: names may be all digits ("2024"), ids are the fallback.
  auto by_name = account_where("name = ?", std::string_view(name_or_id));
  if (!by_name || *by_name) return by_name;
  const bool numeric = !name_or_id.empty() && name_or_id.size() <= 18 &&
                       std::all_of(name_or_id.begin(), name_or_id.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
  if (!numeric) return std::optional<Account>();
  return account_where("id = ?", static_cast<int64_t>(std::stoll(name_or_id)));
}

core::Result<std::string> SqliteStore::create_api_key(int64_t account_id) {
  std::string key = secrets::new_api_key();
  const std::string hash = secrets::sha256_hex(key);
  std::lock_guard lock(mu_);
  if (auto r = require_account(account_id); !r) return r.error();
  Stmt s(db_, "INSERT INTO api_keys(account_id, prefix, hash, created_ms) VALUES(?, ?, ?, ?)");
  s.bind(1, account_id)
      .bind(2, std::string_view(key).substr(0, secrets::kApiKeyStoredPrefix))
      .bind(3, std::string_view(hash))
      .bind(4, now_ms());
  if (auto r = s.run("insert API key"); !r) return r.error();
  return key;
}

core::Result<void> SqliteStore::revoke_api_key(int64_t account_id, const std::string& key_prefix) {
  std::lock_guard lock(mu_);
  if (auto r = require_account(account_id); !r) return r;
  Stmt s(db_,
         "UPDATE api_keys SET revoked_ms = ? "
         "WHERE account_id = ? AND prefix = ? AND revoked_ms IS NULL");
  s.bind(1, now_ms()).bind(2, account_id).bind(3, std::string_view(key_prefix));
  if (auto r = s.run("revoke API key"); !r) return r;
  if (db_.changes() == 0)
    return core::Error::perm("no active API key of this account has that prefix");
  return core::ok();
}

core::Result<std::vector<ApiKey>> SqliteStore::list_api_keys(int64_t account_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT account_id, prefix, created_ms, COALESCE(revoked_ms, 0) FROM api_keys "
         "WHERE account_id = ? ORDER BY id");
  s.bind(1, account_id);
  std::vector<ApiKey> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back({s.int64(0), s.text(1), s.int64(2), s.int64(3)});
  if (rc != SQLITE_DONE) return s.error(rc, "list API keys");
  return out;
}

core::Result<std::optional<int64_t>> SqliteStore::verify_credentials(const std::string& username,
                                                                     const std::string& password) {
  using R = std::optional<int64_t>;
  if (password.empty() || password.size() > kMaxSecretLen || username.size() > kMaxSecretLen)
    return R();

  if (username == kApiKeyUser) {
    // Lookup by SHA-256 of the presented key. Timing of the index lookup depends only on the
    // hash, which an attacker cannot steer toward a stored one, so no constant-time compare is
    // needed here.
    const std::string hash = secrets::sha256_hex(password);
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT account_id FROM api_keys WHERE hash = ? AND revoked_ms IS NULL");
    s.bind(1, std::string_view(hash));
    int rc = s.step();
    if (rc == SQLITE_DONE) return R();
    if (rc != SQLITE_ROW) return s.error(rc, "verify API key");
    return R(s.int64(0));
  }

  if (auto hit = cache_.lookup(username, password)) return R(*hit);

  std::string stored;
  int64_t account_id = 0;
  {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT account_id, password_hash FROM credentials WHERE username = ?");
    s.bind(1, std::string_view(username));
    int rc = s.step();
    if (rc == SQLITE_ROW) {
      account_id = s.int64(0);
      stored = s.text(1);
    } else if (rc != SQLITE_DONE) {
      return s.error(rc, "verify credentials");
    }
  }
  if (stored.empty()) {
    secrets::verify_dummy(password);  // same cost as a real verification: no username probing
    return R();
  }
  if (!secrets::verify_password(stored, password)) return R();
  cache_.insert(username, password, account_id);
  return R(account_id);
}

core::Result<void> SqliteStore::add_domain(int64_t account_id, const std::string& domain,
                                           bool verified, int max_unverified) {
  std::string d = core::to_lower(domain);
  // Address literals are valid in envelopes but cannot be sending domains (no DNS, no DKIM).
  if (d.empty() || d.front() == '[' || d.back() == '.' || !core::valid_domain(d))
    return core::Error::perm("invalid domain name");
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  if (auto r = require_account(account_id); !r) return r;
  // Only a verified claim excludes others; unverified claims never block anyone.
  Stmt holder(db_, "SELECT account_id FROM domains WHERE domain = ? AND verified = 1");
  holder.bind(1, std::string_view(d));
  int rc = holder.step();
  if (rc == SQLITE_ROW && holder.int64(0) != account_id)
    return core::Error::perm(fmt::format("domain {} belongs to another account", d));
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return holder.error(rc, "find domain");
  Stmt mine(db_, "SELECT verified FROM domains WHERE domain = ? AND account_id = ?");
  mine.bind(1, std::string_view(d)).bind(2, account_id);
  rc = mine.step();
  if (rc == SQLITE_ROW) {
    // Already ours: adding again only sets the verified flag.
    Stmt up(db_, "UPDATE domains SET verified = ? WHERE domain = ? AND account_id = ?");
    up.bind(1, int64_t{verified}).bind(2, std::string_view(d)).bind(3, account_id);
    if (auto r = up.run("update domain"); !r) return r;
  } else if (rc == SQLITE_DONE) {
    if (!verified && max_unverified > 0) {
      Stmt n(db_, "SELECT COUNT(*) FROM domains WHERE account_id = ? AND verified = 0");
      n.bind(1, account_id);
      if (int nrc = n.step(); nrc != SQLITE_ROW) return n.error(nrc, "count domains");
      if (n.int64(0) >= max_unverified)
        return core::Error::perm(fmt::format(
            "quota: at most {} unverified domains per account; verify or remove one first",
            max_unverified));
    }
    Stmt ins(db_,
             "INSERT INTO domains(account_id, domain, verified, created_ms, token) "
             "VALUES(?, ?, ?, ?, ?)");
    ins.bind(1, account_id)
        .bind(2, std::string_view(d))
        .bind(3, int64_t{verified})
        .bind(4, now_ms())
        .bind(5, std::string_view(secrets::random_token()));
    if (auto r = ins.run("insert domain"); !r) return r;
  } else {
    return mine.error(rc, "find domain");
  }
  // The operator's --verified wins over every unverified claim.
  if (verified)
    if (auto r = drop_other_claims(d, account_id); !r) return r;
  return txn.commit();
}

core::Result<std::optional<int64_t>> SqliteStore::claim_of(const std::string& domain,
                                                           int64_t account_id) {
  Stmt s(db_, account_id != 0
                  ? "SELECT account_id FROM domains WHERE domain = ?1 AND account_id = ?2"
                  : "SELECT account_id FROM domains WHERE domain = ?1 "
                    "ORDER BY verified DESC, created_ms, rowid LIMIT 1");
  s.bind(1, std::string_view(domain));
  if (account_id != 0) s.bind(2, account_id);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<int64_t>(s.int64(0));
  if (rc == SQLITE_DONE) return std::optional<int64_t>();
  return s.error(rc, "find domain");
}

core::Result<void> SqliteStore::drop_other_claims(const std::string& domain, int64_t account_id) {
  Stmt keys(db_,
            "DELETE FROM dkim_keys WHERE owner = ? AND account_id != ? AND account_id IN "
            "(SELECT account_id FROM domains WHERE domain = ? AND dkim_mode = 'direct')");
  keys.bind(1, std::string_view(domain)).bind(2, account_id).bind(3, std::string_view(domain));
  if (auto r = keys.run("delete other claims' keys"); !r) return r;
  Stmt del(db_, "DELETE FROM domains WHERE domain = ? AND account_id != ?");
  del.bind(1, std::string_view(domain)).bind(2, account_id);
  return del.run("delete other claims");
}

core::Result<std::vector<Domain>> SqliteStore::list_domains(int64_t account_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT account_id, domain, verified FROM domains WHERE account_id = ? ORDER BY domain");
  s.bind(1, account_id);
  std::vector<Domain> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.int64(0), s.text(1), s.int64(2) != 0});
  if (rc != SQLITE_DONE) return s.error(rc, "list domains");
  return out;
}

core::Result<void> SqliteStore::add_sender(int64_t account_id, const std::string& address,
                                           bool verified) {
  auto mb = core::parse_mailbox(address);  // lower-cases the domain; the local part is kept
  if (!mb) return core::Error::perm("invalid sender address");
  const std::string a = mb->str();
  std::lock_guard lock(mu_);
  if (auto r = require_account(account_id); !r) return r;
  Stmt s(db_,
         "INSERT INTO senders(account_id, address, verified, created_ms) VALUES(?, ?, ?, ?) "
         "ON CONFLICT(account_id, address) DO UPDATE SET verified = excluded.verified");
  s.bind(1, account_id).bind(2, std::string_view(a)).bind(3, int64_t{verified}).bind(4, now_ms());
  return s.run("insert sender");
}

core::Result<std::vector<Sender>> SqliteStore::list_senders(int64_t account_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT account_id, address, verified FROM senders WHERE account_id = ? ORDER BY address");
  s.bind(1, account_id);
  std::vector<Sender> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.int64(0), s.text(1), s.int64(2) != 0});
  if (rc != SQLITE_DONE) return s.error(rc, "list senders");
  return out;
}

core::Result<policy::AccountContext> SqliteStore::account_context(int64_t account_id) {
  std::lock_guard lock(mu_);
  // One read transaction: domains and senders come from the same snapshot.
  if (auto r = db_.exec("BEGIN", "begin read"); !r) return r.error();
  struct EndRead {
    const Db& db;
    ~EndRead() { (void)db.exec("COMMIT", "end read"); }
  } end{db_};
  auto acc = account_where("id = ?", account_id);
  if (!acc) return acc.error();
  if (!*acc) return core::Error::perm(fmt::format("no account with id {}", account_id));
  policy::AccountContext ctx;
  ctx.id = account_id;
  ctx.name = (*acc)->name;
  {
    Stmt s(db_, "SELECT domain FROM domains WHERE account_id = ? AND verified = 1 ORDER BY domain");
    s.bind(1, account_id);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) ctx.domains.push_back(s.text(0));
    if (rc != SQLITE_DONE) return s.error(rc, "read domains");
  }
  {
    Stmt s(db_,
           "SELECT address FROM senders WHERE account_id = ? AND verified = 1 ORDER BY address");
    s.bind(1, account_id);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) ctx.senders.push_back(s.text(0));
    if (rc != SQLITE_DONE) return s.error(rc, "read senders");
  }
  auto settings = settings_of(account_id, false);
  if (!settings) return settings.error();
  ctx.mail_from = std::move(settings->mail_from);
  ctx.cc = std::move(settings->cc);
  ctx.bcc = std::move(settings->bcc);
  ctx.defaults.notify_url = settings->notify_url;
  ctx.defaults.tracking_url = settings->tracking_url;
  ctx.defaults.intermediate_report = settings->intermediate_report;
  if (settings->report_format == "xml") ctx.defaults.notify_content_type = "application/xml";
  // platform_domains come from the operator's config.
  return ctx;
}

// --- Sending domains and DKIM keys ---

constexpr std::string_view kDomainColumns =
    "account_id, domain, verified, dkim_mode, ed25519, token, active_slot, next_slot, checked_ms";

core::Result<std::vector<DomainDetail>> SqliteStore::domains_where(std::string_view where,
                                                                   std::string_view domain,
                                                                   int64_t account_id,
                                                                   std::string_view order) {
  std::vector<DomainDetail> out;
  {
    Stmt s(db_, fmt::format("SELECT {} FROM domains {} ORDER BY {}", kDomainColumns, where, order));
    if (where.find("?1") != std::string_view::npos) s.bind(1, domain);
    if (where.find("?2") != std::string_view::npos) s.bind(2, account_id);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      DomainDetail d;
      d.account_id = s.int64(0);
      d.domain = s.text(1);
      d.verified = s.int64(2) != 0;
      d.dkim_mode = s.text(3);
      d.ed25519 = s.int64(4) != 0;
      d.token = s.text(5);
      d.active_slot = static_cast<int>(s.int64(6));
      d.next_slot = static_cast<int>(s.int64(7));
      d.checked_ms = s.int64(8);
      out.push_back(std::move(d));
    }
    if (rc != SQLITE_DONE) return s.error(rc, "read domains");
  }
  for (auto& d : out) {
    Stmt s(db_,
           "SELECT id, status, found, checked_ms FROM domain_records WHERE account_id = ? AND "
           "domain = ? ORDER BY id");
    s.bind(1, d.account_id).bind(2, std::string_view(d.domain));
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
      d.records.push_back({s.text(0), s.text(1), s.text(2), s.int64(3)});
    if (rc != SQLITE_DONE) return s.error(rc, "read domain records");
  }
  return out;
}

core::Result<std::optional<DomainDetail>> SqliteStore::find_domain(const std::string& domain,
                                                                   int64_t account_id) {
  std::lock_guard lock(mu_);
  const std::string d = core::to_lower(domain);
  auto all = account_id != 0
                 ? domains_where("WHERE domain = ?1 AND account_id = ?2", d, account_id)
                 : domains_where("WHERE domain = ?1", d, 0, "verified DESC, created_ms, rowid");
  if (!all) return all.error();
  if (all->empty()) return std::optional<DomainDetail>();
  return std::optional<DomainDetail>(std::move(all->front()));
}

core::Result<std::vector<DomainDetail>> SqliteStore::all_domains() {
  std::lock_guard lock(mu_);
  return domains_where("", {}, 0, "domain, verified DESC, created_ms, rowid");
}

core::Result<void> SqliteStore::upsert_record(int64_t account_id, const std::string& domain,
                                              const RecordState& r) {
  Stmt s(db_,
         "INSERT INTO domain_records(account_id, domain, id, status, found, checked_ms) "
         "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(account_id, domain, id) DO UPDATE SET "
         "status = excluded.status, found = excluded.found, checked_ms = excluded.checked_ms");
  s.bind(1, account_id)
      .bind(2, std::string_view(domain))
      .bind(3, std::string_view(r.id))
      .bind(4, std::string_view(r.status))
      .bind(5, std::string_view(r.found))
      .bind(6, r.checked_ms);
  return s.run("save record state");
}

core::Result<void> SqliteStore::set_domain_dkim(const std::string& domain, const std::string& mode,
                                                bool ed25519, int64_t account_id) {
  if (mode != "direct" && mode != "delegated")
    return core::Error::perm("DKIM form must be direct or delegated");
  const std::string d = core::to_lower(domain);
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  auto claim = claim_of(d, account_id);
  if (!claim) return claim.error();
  if (!*claim) return core::Error::perm(fmt::format("no such domain: {}", d));
  const int64_t acc = **claim;
  Stmt cur(db_, "SELECT dkim_mode FROM domains WHERE domain = ? AND account_id = ?");
  cur.bind(1, std::string_view(d)).bind(2, acc);
  int rc = cur.step();
  if (rc == SQLITE_DONE) return core::Error::perm(fmt::format("no such domain: {}", d));
  if (rc != SQLITE_ROW) return cur.error(rc, "find domain");
  const bool changed = cur.text(0) != mode;
  Stmt up(db_, "UPDATE domains SET dkim_mode = ?, ed25519 = ? WHERE domain = ? AND account_id = ?");
  up.bind(1, std::string_view(mode))
      .bind(2, int64_t{ed25519})
      .bind(3, std::string_view(d))
      .bind(4, acc);
  if (auto r = up.run("update domain DKIM"); !r) return r;
  if (changed) {
    // Another key set now stands behind the selectors: what was checked no longer holds.
    Stmt reset(db_,
               "UPDATE domain_records SET status = 'pending', found = '', checked_ms = 0 "
               "WHERE domain = ? AND account_id = ? AND id LIKE 'dkim:%'");
    reset.bind(1, std::string_view(d)).bind(2, acc);
    if (auto r = reset.run("reset DKIM states"); !r) return r;
    Stmt slots(db_, "UPDATE domains SET next_slot = 0 WHERE domain = ? AND account_id = ?");
    slots.bind(1, std::string_view(d)).bind(2, acc);
    if (auto r = slots.run("reset rotation"); !r) return r;
  }
  return txn.commit();
}

core::Result<void> SqliteStore::save_domain_check(const DomainCheckUpdate& u) {
  if ((u.active_slot != 1 && u.active_slot != 2) || u.next_slot < 0 || u.next_slot > 2)
    return core::Error::perm("selector slots are 1 or 2");
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  auto claim = claim_of(u.domain, u.account_id);
  if (!claim) return claim.error();
  if (!*claim) return core::Error::perm(fmt::format("no such domain: {}", u.domain));
  Stmt cur(db_,
           "SELECT account_id, dkim_mode, next_slot, verified FROM domains WHERE domain = ? AND "
           "account_id = ?");
  cur.bind(1, std::string_view(u.domain)).bind(2, **claim);
  int rc = cur.step();
  if (rc == SQLITE_DONE) return core::Error::perm(fmt::format("no such domain: {}", u.domain));
  if (rc != SQLITE_ROW) return cur.error(rc, "find domain");
  const int64_t account_id = cur.int64(0);
  const std::string owner = cur.text(1) == "delegated" ? std::string() : u.domain;
  // A rotation started after the check read the domain: leave its slots alone.
  const bool slots_current = u.seen_next_slot < 0 || cur.int64(2) == u.seen_next_slot;
  const bool newly_verified = u.verified && cur.int64(3) == 0;
  // First to verify wins: the other claims go (one verified row per domain, by index too).
  if (newly_verified)
    if (auto r = drop_other_claims(u.domain, account_id); !r) return r;
  Stmt up(db_,
          slots_current
              ? "UPDATE domains SET verified = MAX(verified, ?), checked_ms = ?, "
                "active_slot = ?, next_slot = ? WHERE domain = ? AND account_id = ?"
              : "UPDATE domains SET verified = MAX(verified, ?), checked_ms = ? WHERE domain = ? "
                "AND account_id = ?");
  up.bind(1, int64_t{u.verified}).bind(2, u.checked_ms);
  if (slots_current)
    up.bind(3, int64_t{u.active_slot})
        .bind(4, int64_t{u.next_slot})
        .bind(5, std::string_view(u.domain))
        .bind(6, account_id);
  else
    up.bind(3, std::string_view(u.domain)).bind(4, account_id);
  if (auto r = up.run("save domain check"); !r) return r;
  for (const auto& rec : u.records) {
    if (rec.id.starts_with("dkim:")) {
      const std::string selector = rec.id.substr(5);
      int64_t seen = -1;
      for (const auto& [sel, v] : u.key_versions)
        if (sel == selector) seen = v;
      if (seen >= 0) {
        Stmt k(db_,
               "SELECT version FROM dkim_keys WHERE account_id = ? AND owner = ? AND selector = ?");
        k.bind(1, account_id).bind(2, std::string_view(owner)).bind(3, std::string_view(selector));
        int krc = k.step();
        if (krc != SQLITE_ROW && krc != SQLITE_DONE) return k.error(krc, "read key version");
        if (krc == SQLITE_DONE || k.int64(0) != seen) continue;  // key replaced meanwhile
      }
    }
    if (auto r = upsert_record(account_id, u.domain, rec); !r) return r;
  }
  return txn.commit();
}

core::Result<std::vector<DkimKey>> SqliteStore::keys_of(int64_t account_id, std::string_view owner,
                                                        bool with_private) {
  Stmt s(db_,
         "SELECT version, slot, selector, algorithm, public_b64, private_key, created_ms "
         "FROM dkim_keys WHERE account_id = ? AND owner = ? ORDER BY slot, algorithm DESC");
  s.bind(1, account_id).bind(2, owner);
  std::vector<DkimKey> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    DkimKey k;
    k.account_id = account_id;
    k.owner = std::string(owner);
    k.version = s.int64(0);
    k.slot = static_cast<int>(s.int64(1));
    k.selector = s.text(2);
    k.algorithm = s.text(3);
    k.public_b64 = s.text(4);
    if (with_private) {
      auto pem = key_box::open(master_key_, s.text(5));
      if (!pem) return pem.error();
      k.private_pem = std::move(pem).value();
    }
    k.created_ms = s.int64(6);
    out.push_back(std::move(k));
  }
  if (rc != SQLITE_DONE) return s.error(rc, "read DKIM keys");
  return out;
}

core::Result<std::vector<DkimKey>> SqliteStore::dkim_keys(int64_t account_id,
                                                          const std::string& owner,
                                                          bool with_private) {
  std::lock_guard lock(mu_);
  return keys_of(account_id, core::to_lower(owner), with_private);
}

core::Result<std::vector<DkimKey>> SqliteStore::put_dkim_keys(int64_t account_id,
                                                              const std::string& owner_in,
                                                              std::vector<DkimKey> keys,
                                                              bool rotation) {
  const std::string owner = core::to_lower(owner_in);
  for (const auto& k : keys) {
    if (k.slot != 1 && k.slot != 2) return core::Error::perm("selector slots are 1 or 2");
    if (k.algorithm != "rsa" && k.algorithm != "ed25519")
      return core::Error::perm("DKIM algorithm must be rsa or ed25519");
    if (k.selector.empty() || k.public_b64.empty() || k.private_pem.empty())
      return core::Error::perm("DKIM key without selector or key material");
  }
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  if (auto r = require_account(account_id); !r) return r.error();
  if (!owner.empty()) {
    Stmt own(db_, "SELECT 1 FROM domains WHERE domain = ? AND account_id = ?");
    own.bind(1, std::string_view(owner)).bind(2, account_id);
    int rc = own.step();
    if (rc == SQLITE_DONE)
      return core::Error::perm(fmt::format("domain {} is not this account's", owner));
    if (rc != SQLITE_ROW) return own.error(rc, "find domain");
  }
  // Domains whose selectors this key set stands behind.
  std::vector<std::string> users;
  {
    Stmt s(db_, owner.empty()
                    ? "SELECT domain FROM domains WHERE account_id = ? AND dkim_mode = 'delegated'"
                    : "SELECT domain FROM domains WHERE account_id = ? AND domain = ?");
    s.bind(1, account_id);
    if (!owner.empty()) s.bind(2, std::string_view(owner));
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) users.push_back(s.text(0));
    if (rc != SQLITE_DONE) return s.error(rc, "find key users");
  }
  const int64_t now = now_ms();
  for (auto& k : keys) {
    Stmt del(db_,
             "DELETE FROM dkim_keys WHERE account_id = ? AND owner = ? AND slot = ? AND "
             "algorithm = ?");
    del.bind(1, account_id)
        .bind(2, std::string_view(owner))
        .bind(3, int64_t{k.slot})
        .bind(4, std::string_view(k.algorithm));
    if (auto r = del.run("replace DKIM key"); !r) return r.error();
    const std::string stored =
        master_key_.empty() ? k.private_pem : key_box::seal(master_key_, k.private_pem);
    Stmt ins(db_,
             "INSERT INTO dkim_keys(account_id, owner, slot, selector, algorithm, public_b64, "
             "private_key, created_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, account_id)
        .bind(2, std::string_view(owner))
        .bind(3, int64_t{k.slot})
        .bind(4, std::string_view(k.selector))
        .bind(5, std::string_view(k.algorithm))
        .bind(6, std::string_view(k.public_b64))
        .bind(7, std::string_view(stored))
        .bind(8, now);
    if (auto r = ins.run("store DKIM key"); !r) return r.error();
    k.account_id = account_id;
    k.owner = owner;
    k.version = db_.last_insert_rowid();
    k.created_ms = now;
    for (const auto& d : users)
      if (auto r = upsert_record(account_id, d, {"dkim:" + k.selector, "pending", "", 0}); !r)
        return r.error();
  }
  if (rotation && !keys.empty()) {
    for (const auto& d : users) {
      Stmt up(db_, "UPDATE domains SET next_slot = ? WHERE domain = ? AND account_id = ?");
      up.bind(1, int64_t{keys.front().slot}).bind(2, std::string_view(d)).bind(3, account_id);
      if (auto r = up.run("start rotation"); !r) return r.error();
    }
  }
  if (auto r = txn.commit(); !r) return r.error();
  for (auto& k : keys)
    sodium_memzero(k.private_pem.data(), k.private_pem.size()), k.private_pem.clear();
  return keys;
}

core::Result<std::vector<Store::SigningKey>> SqliteStore::signing_keys(int64_t account_id,
                                                                       const std::string& domain) {
  using Keys = std::vector<SigningKey>;
  std::lock_guard lock(mu_);
  auto found =
      domains_where("WHERE domain = ?1 AND account_id = ?2", core::to_lower(domain), account_id);
  if (!found) return found.error();
  if (found->empty()) return Keys{};
  const DomainDetail& d = found->front();
  if (d.account_id != account_id || !d.verified) return Keys{};
  const std::string owner = d.dkim_mode == "delegated" ? std::string() : d.domain;
  auto keys = keys_of(account_id, owner, false);
  if (!keys) return keys.error();
  auto checked_ok = [&](const DkimKey& k) {
    const RecordState* r = d.record("dkim:" + k.selector);
    return r && r->status == "ok";
  };
  // RSA is what every receiver verifies: nothing signs until its record checks ok. Ed25519
  // (RFC 8463) is a second signature, added when asked for and its own record checks ok.
  const DkimKey* rsa = nullptr;
  const DkimKey* ed = nullptr;
  for (const auto& k : *keys) {
    if (k.slot != d.active_slot || !checked_ok(k)) continue;
    if (k.algorithm == "rsa") rsa = &k;
    if (k.algorithm == "ed25519" && d.ed25519) ed = &k;
  }
  Keys out;
  if (!rsa) return out;
  for (const DkimKey* k : {ed, rsa}) {
    if (!k) continue;
    Stmt s(db_, "SELECT private_key FROM dkim_keys WHERE version = ?");
    s.bind(1, k->version);
    int rc = s.step();
    if (rc != SQLITE_ROW) return s.error(rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc, "read DKIM key");
    auto pem = key_box::open(master_key_, s.text(0));
    if (!pem) return pem.error();
    out.push_back({d.domain, k->selector, k->algorithm, std::move(pem).value(), k->version});
  }
  return out;
}

// --- Delivery settings, suppression list, delivery events ---

constexpr std::string_view kPasswordKey = "relay.password";
// Rows of the settings table kept beside webhook_secret for its rotation window (not keys a
// user sets): the replaced secret, sealed like it, and when it was replaced (unix ms).
constexpr std::string_view kPreviousSecretKey = "webhook_secret.previous";
constexpr std::string_view kSecretChangedKey = "webhook_secret.changed_ms";

core::Result<AccountSettings> SqliteStore::settings_of(int64_t account_id, bool with_secrets) {
  AccountSettings out;
  Stmt s(db_, "SELECT key, value FROM settings WHERE account_id = ?");
  s.bind(1, account_id);
  const auto& keys = setting_keys();
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::string key = s.text(0);
    if (key == kSecretChangedKey) {
      out.webhook_secret_changed_ms = std::strtoll(s.text(1).c_str(), nullptr, 10);
      continue;
    }
    if (key == kPreviousSecretKey) {
      if (with_secrets) {
        auto plain = key_box::open(master_key_, s.text(1));
        if (!plain) return core::Error::perm("store: " + key + ": " + plain.error().message);
        out.webhook_secret_previous = std::move(plain).value();
      }
      continue;
    }
    // Other subjects may keep rows in this table too (message option defaults): skip them.
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
    if (is_secret_key(key)) {
      const bool relay = key == kPasswordKey;
      (relay ? out.relay_password_set : out.webhook_secret_set) = true;
      if (with_secrets) {
        auto plain = key_box::open(master_key_, s.text(1));
        if (!plain) return core::Error::perm("store: " + key + ": " + plain.error().message);
        (relay ? out.relay_password : out.webhook_secret) = std::move(plain).value();
      }
      continue;
    }
    if (auto r = apply_setting(out, key, s.text(1)); !r)
      return core::Error::perm("store: stored setting invalid: " + r.error().message);
  }
  if (rc != SQLITE_DONE) return s.error(rc, "read settings");
  return out;
}

core::Result<AccountSettings> SqliteStore::account_settings(int64_t account_id, bool with_secrets) {
  std::lock_guard lock(mu_);
  if (auto r = require_account(account_id); !r) return r.error();
  return settings_of(account_id, with_secrets);
}

// Called inside set_account_settings' transaction before a new webhook_secret is written:
// when it differs from the stored one, the stored (sealed) value becomes the previous secret
// and the change time is now; a removed secret drops the previous one as well (reports go out
// unsigned). Setting the same secret again changes nothing.
core::Result<void> SqliteStore::rotate_webhook_secret(
    int64_t account_id, const std::string& next,
    const std::function<core::Result<void>(std::string_view, std::string_view)>& write) {
  Stmt s(db_, "SELECT value FROM settings WHERE account_id = ? AND key = 'webhook_secret'");
  s.bind(1, account_id);
  int rc = s.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return s.error(rc, "read webhook secret");
  const std::string stored = rc == SQLITE_ROW ? s.text(0) : std::string();
  if (!stored.empty()) {
    auto current = key_box::open(master_key_, stored);
    if (!current) return core::Error::perm("store: webhook_secret: " + current.error().message);
    const bool same = *current == next;
    sodium_memzero(current->data(), current->size());
    if (same) return core::ok();
  } else if (next.empty()) {
    return core::ok();
  }
  if (auto r = write(kPreviousSecretKey, next.empty() ? std::string_view() : stored); !r) return r;
  return write(kSecretChangedKey, std::to_string(now_ms()));
}

core::Result<void> SqliteStore::set_account_settings(
    int64_t account_id, const std::vector<std::pair<std::string, std::string>>& kv) {
  std::lock_guard lock(mu_);
  // Read, merge and write under one write lock: a concurrent `set` from another process cannot
  // slip in between and be lost.
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  if (auto r = require_account(account_id); !r) return r;
  auto current = settings_of(account_id, false);
  if (!current) return current.error();
  AccountSettings s = std::move(current).value();
  bool password_given = false, secret_given = false;
  for (const auto& [key, value] : kv) {
    if (auto r = apply_setting(s, key, value); !r) return r;
    password_given = password_given || key == kPasswordKey;
    secret_given = secret_given || key == "webhook_secret";
  }
  if (auto r = validate(s); !r) return r;

  std::function<core::Result<void>(std::string_view, std::string_view)> write =
      [&](std::string_view key, std::string_view value) -> core::Result<void> {
    if (value.empty()) {  // absent = default
      Stmt del(db_, "DELETE FROM settings WHERE account_id = ? AND key = ?");
      del.bind(1, account_id).bind(2, key);
      return del.run("reset setting");
    }
    Stmt up(db_,
            "INSERT INTO settings(account_id, key, value) VALUES(?, ?, ?) "
            "ON CONFLICT(account_id, key) DO UPDATE SET value = excluded.value");
    up.bind(1, account_id).bind(2, key).bind(3, value);
    return up.run("write setting");
  };
  for (const auto& key : setting_keys()) {
    if (is_secret_key(key)) continue;
    if (auto r = write(key, setting_value(s, key)); !r) return r;
  }
  auto write_secret = [&](std::string_view key, std::string& plain) -> core::Result<void> {
    std::string stored =
        plain.empty() || master_key_.empty() ? plain : key_box::seal(master_key_, plain);
    auto r = write(key, stored);
    sodium_memzero(stored.data(), stored.size());
    sodium_memzero(plain.data(), plain.size());
    return r;
  };
  if (password_given)
    if (auto r = write_secret(kPasswordKey, s.relay_password); !r) return r;
  if (secret_given) {
    if (auto r = rotate_webhook_secret(account_id, s.webhook_secret, write); !r) return r;
    if (auto r = write_secret("webhook_secret", s.webhook_secret); !r) return r;
  }
  return txn.commit();
}

// The stored form of a recipient address (domain lower-case), or nullopt when not an address.
std::optional<std::string> suppression_key(std::string_view address) {
  auto mb = core::parse_mailbox(address);
  if (!mb) return std::nullopt;
  return mb->str();
}

core::Result<void> SqliteStore::add_suppression(const Suppression& s) {
  auto address = suppression_key(s.address);
  if (!address) return core::Error::perm("suppression: invalid address");
  std::lock_guard lock(mu_);
  if (auto r = require_account(s.account_id); !r) return r;
  Stmt up(db_,
          "INSERT INTO suppressions(account_id, address, reason, queue_id, created_ms) "
          "VALUES(?, ?, ?, ?, ?) ON CONFLICT(account_id, address) DO UPDATE SET "
          "reason = excluded.reason, queue_id = excluded.queue_id, "
          "created_ms = excluded.created_ms");
  up.bind(1, s.account_id)
      .bind(2, std::string_view(*address))
      .bind(3, std::string_view(s.reason))
      .bind(4, std::string_view(s.queue_id))
      .bind(5, s.created_ms ? s.created_ms : now_ms());
  return up.run("add suppression");
}

core::Result<std::vector<Store::Suppression>> SqliteStore::list_suppressions(int64_t account_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT account_id, address, reason, queue_id, created_ms FROM suppressions "
         "WHERE account_id = ? ORDER BY created_ms DESC, address");
  s.bind(1, account_id);
  std::vector<Suppression> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back({s.int64(0), s.text(1), s.text(2), s.text(3), s.int64(4)});
  if (rc != SQLITE_DONE) return s.error(rc, "list suppressions");
  return out;
}

core::Result<void> SqliteStore::remove_suppression(int64_t account_id, const std::string& address) {
  auto key = suppression_key(address);
  if (!key) return core::Error::perm("not a valid address");
  std::lock_guard lock(mu_);
  Stmt del(db_, "DELETE FROM suppressions WHERE account_id = ? AND address = ?");
  del.bind(1, account_id).bind(2, std::string_view(*key));
  if (auto r = del.run("remove suppression"); !r) return r;
  if (db_.changes() == 0)
    return core::Error::perm(fmt::format("{} is not on the account's suppression list", *key));
  return core::ok();
}

core::Result<bool> SqliteStore::is_suppressed(int64_t account_id, const std::string& address) {
  auto key = suppression_key(address);
  if (!key) return false;  // never stored: add_suppression accepts addresses only
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT 1 FROM suppressions WHERE account_id = ? AND address = ?");
  s.bind(1, account_id).bind(2, std::string_view(*key));
  int rc = s.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return s.error(rc, "read suppression");
}

bool known_event(std::string_view e) {
  return e == "accepted" || e == "delivered" || e == "deferred" || e == "bounced" ||
         e == "expired" || e == "rejected" || e == "opened" || e == "clicked" || e == "webhook";
}

core::Result<void> SqliteStore::record_events(const std::vector<DeliveryEvent>& events) {
  for (const auto& e : events)
    if (!known_event(e.event))
      return core::Error::perm(fmt::format("delivery event: unknown kind \"{}\"", e.event));
  if (events.empty()) return core::ok();
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  // One statement prepared once and reset per row (sqlite::Stmt has no reset): the batch costs
  // one parse, not one per event.
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(
      db_.get(),
      "INSERT INTO delivery_events(time_ms, queue_id, account_id, recipient, event, attempt, "
      "code, enhanced, reply, mx_host, tls, phase) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
  if (rc != SQLITE_OK) return sqlite::to_error(db_.get(), rc, "prepare event insert");
  auto text = [&](int idx, const std::string& v) {
    return sqlite3_bind_text64(st.get(), idx, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  };
  for (const auto& e : events) {
    rc = sqlite3_bind_int64(st.get(), 1, e.time_ms);
    if (rc == SQLITE_OK) rc = text(2, e.queue_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st.get(), 3, e.account_id);
    if (rc == SQLITE_OK) rc = text(4, e.recipient);
    if (rc == SQLITE_OK) rc = text(5, e.event);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st.get(), 6, e.attempt);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st.get(), 7, e.code);
    if (rc == SQLITE_OK) rc = text(8, e.enhanced);
    if (rc == SQLITE_OK) rc = text(9, e.reply);
    if (rc == SQLITE_OK) rc = text(10, e.mx_host);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st.get(), 11, e.tls ? 1 : 0);
    if (rc == SQLITE_OK) rc = text(12, e.phase);
    if (rc == SQLITE_OK) rc = sqlite3_step(st.get());
    if (rc != SQLITE_DONE) return sqlite::to_error(db_.get(), rc, "record delivery event");
    sqlite3_reset(st.get());
  }
  return txn.commit();
}

core::Result<std::vector<Store::DeliveryEvent>> SqliteStore::events_for(
    const std::string& queue_id) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT time_ms, queue_id, account_id, recipient, event, attempt, code, enhanced, reply, "
         "mx_host, tls, phase FROM delivery_events WHERE queue_id = ? ORDER BY time_ms, id");
  s.bind(1, std::string_view(queue_id));
  std::vector<DeliveryEvent> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    DeliveryEvent e;
    e.time_ms = s.int64(0);
    e.queue_id = s.text(1);
    e.account_id = s.int64(2);
    e.recipient = s.text(3);
    e.event = s.text(4);
    e.attempt = static_cast<int>(s.int64(5));
    e.code = static_cast<int>(s.int64(6));
    e.enhanced = s.text(7);
    e.reply = s.text(8);
    e.mx_host = s.text(9);
    e.tls = s.int64(10) != 0;
    e.phase = s.text(11);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return s.error(rc, "read delivery events");
  return out;
}

// --- REST API: bearer keys, credentials, deletions, sender verification links ---

core::Result<std::optional<int64_t>> SqliteStore::verify_api_key(const std::string& key) {
  using R = std::optional<int64_t>;
  if (key.size() != secrets::kApiKeyChars || !key.starts_with(secrets::kApiKeyPrefix)) return R();
  const std::string hash = secrets::sha256_hex(key);
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT account_id FROM api_keys WHERE hash = ? AND revoked_ms IS NULL");
  s.bind(1, std::string_view(hash));
  int rc = s.step();
  if (rc == SQLITE_DONE) return R();
  if (rc != SQLITE_ROW) return s.error(rc, "verify API key");
  return R(s.int64(0));
}

core::Result<void> SqliteStore::delete_account(int64_t account_id) {
  std::vector<std::string> usernames;
  {
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r;
    if (auto r = require_account(account_id); !r) return r;
    {
      Stmt u(db_, "SELECT username FROM credentials WHERE account_id = ?");
      u.bind(1, account_id);
      int rc;
      while ((rc = u.step()) == SQLITE_ROW) usernames.push_back(u.text(0));
      if (rc != SQLITE_DONE) return u.error(rc, "read credentials");
    }
    // Foreign keys cascade to everything the account owns (domain records via domains).
    Stmt del(db_, "DELETE FROM accounts WHERE id = ?");
    del.bind(1, account_id);
    if (auto r = del.run("delete account"); !r) return r;
    if (auto r = txn.commit(); !r) return r;
  }
  for (const auto& u : usernames) cache_.forget(u);
  return core::ok();
}

core::Result<std::vector<Credential>> SqliteStore::list_credentials(int64_t account_id) {
  std::lock_guard lock(mu_);
  if (auto r = require_account(account_id); !r) return r.error();
  Stmt s(db_,
         "SELECT account_id, username, created_ms FROM credentials WHERE account_id = ? "
         "ORDER BY id");
  s.bind(1, account_id);
  std::vector<Credential> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.int64(0), s.text(1), s.int64(2)});
  if (rc != SQLITE_DONE) return s.error(rc, "list credentials");
  return out;
}

core::Result<CreatedCredential> SqliteStore::create_credential(int64_t account_id,
                                                               const std::string& username) {
  if (!username.empty() && !valid_account_name(username))
    return core::Error::perm(
        "invalid username: use 1-64 characters of a-z 0-9 . _ - starting with a letter or digit");
  std::string password = secrets::random_password();
  auto hash = secrets::hash_password(password);  // Argon2id, outside the mutex
  if (!hash) return hash.error();
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  auto acc = account_where("id = ?", account_id);
  if (!acc) return acc.error();
  if (!*acc) return core::Error::perm(fmt::format("no account with id {}", account_id));
  auto taken = [&](const std::string& name) -> core::Result<bool> {
    Stmt c(db_,
           "SELECT 1 FROM credentials WHERE username = ?1 UNION ALL "
           "SELECT 1 FROM accounts WHERE name = ?1 AND id != ?2");
    c.bind(1, std::string_view(name)).bind(2, account_id);
    int rc = c.step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return c.error(rc, "find username");
  };
  // A chosen name lives in the account's namespace ("<name>@<account>"; '@' is in no account
  // name or generated login), so it can only collide with the account's own logins and the
  // answer never tells whether another tenant uses a name (issue 10 item 14).
  std::string name = username.empty() ? username : username + "@" + (*acc)->name;
  for (int attempt = 0;; ++attempt) {
    if (username.empty()) {
      // "<account>." + 6 characters; the account part is cut so the whole stays <= 64.
      std::string base = (*acc)->name.substr(0, 57);
      name = base + "." + secrets::random_token().substr(0, 6);
    }
    auto t = taken(name);
    if (!t) return t.error();
    if (!*t) break;
    if (!username.empty()) return core::Error::perm(fmt::format("username {} is taken", name));
    if (attempt == 10) return core::Error::temp("store: could not pick a unique username");
  }
  Stmt ins(db_,
           "INSERT INTO credentials(account_id, username, password_hash, created_ms) "
           "VALUES(?, ?, ?, ?)");
  ins.bind(1, account_id)
      .bind(2, std::string_view(name))
      .bind(3, std::string_view(*hash))
      .bind(4, now_ms());
  if (auto r = ins.run("insert credential"); !r) return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  return CreatedCredential{name, std::move(password)};
}

core::Result<void> SqliteStore::delete_credential(int64_t account_id, const std::string& username) {
  {
    std::lock_guard lock(mu_);
    if (auto r = require_account(account_id); !r) return r;
    Stmt del(db_, "DELETE FROM credentials WHERE account_id = ? AND username = ?");
    del.bind(1, account_id).bind(2, std::string_view(username));
    if (auto r = del.run("delete credential"); !r) return r;
    if (db_.changes() == 0) return core::Error::perm("the account has no login with that username");
  }
  cache_.forget(username);  // a cached verification must not outlive the login
  return core::ok();
}

core::Result<void> SqliteStore::delete_domain(int64_t account_id, const std::string& domain) {
  const std::string d = core::to_lower(domain);
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  Stmt del(db_, "DELETE FROM domains WHERE account_id = ? AND domain = ?");
  del.bind(1, account_id).bind(2, std::string_view(d));
  if (auto r = del.run("delete domain"); !r) return r;
  if (db_.changes() == 0) return core::Error::perm(fmt::format("no such domain: {}", d));
  // A direct domain owns its key set; delegated keys belong to the account and stay.
  Stmt keys(db_, "DELETE FROM dkim_keys WHERE account_id = ? AND owner = ?");
  keys.bind(1, account_id).bind(2, std::string_view(d));
  if (auto r = keys.run("delete domain keys"); !r) return r;
  return txn.commit();
}

core::Result<void> SqliteStore::delete_sender(int64_t account_id, const std::string& address) {
  auto mb = core::parse_mailbox(address);
  if (!mb) return core::Error::perm("invalid sender address");
  const std::string a = mb->str();
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  Stmt del(db_, "DELETE FROM senders WHERE account_id = ? AND address = ?");
  del.bind(1, account_id).bind(2, std::string_view(a));
  if (auto r = del.run("delete sender"); !r) return r;
  if (db_.changes() == 0) return core::Error::perm(fmt::format("no such sender: {}", a));
  Stmt links(db_, "DELETE FROM sender_verifications WHERE account_id = ? AND address = ?");
  links.bind(1, account_id).bind(2, std::string_view(a));
  if (auto r = links.run("delete sender links"); !r) return r;
  return txn.commit();
}

core::Result<std::string> SqliteStore::create_sender_verification(int64_t account_id,
                                                                  const std::string& address,
                                                                  int64_t expires_ms) {
  auto mb = core::parse_mailbox(address);
  if (!mb) return core::Error::perm("invalid sender address");
  const std::string a = mb->str();
  std::string token = secrets::random_token();
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  Stmt has(db_, "SELECT 1 FROM senders WHERE account_id = ? AND address = ?");
  has.bind(1, account_id).bind(2, std::string_view(a));
  int rc = has.step();
  if (rc == SQLITE_DONE) return core::Error::perm(fmt::format("no such sender: {}", a));
  if (rc != SQLITE_ROW) return has.error(rc, "find sender");
  // Links long expired are of no use to anyone: drop them as new ones are made.
  Stmt old(db_, "DELETE FROM sender_verifications WHERE expires_ms < ?");
  old.bind(1, now - 30LL * 86'400'000);
  if (auto r = old.run("drop old links"); !r) return r.error();
  Stmt ins(db_,
           "INSERT INTO sender_verifications(token_hash, account_id, address, expires_ms, "
           "created_ms) VALUES(?, ?, ?, ?, ?)");
  ins.bind(1, std::string_view(secrets::sha256_hex(token)))
      .bind(2, account_id)
      .bind(3, std::string_view(a))
      .bind(4, expires_ms)
      .bind(5, now);
  if (auto r = ins.run("store verification link"); !r) return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  return token;
}

core::Result<SenderVerification> SqliteStore::consume_sender_verification(const std::string& token,
                                                                          int64_t now_ms_at) {
  SenderVerification out;
  if (token.empty() || token.size() > 64) return out;  // unknown
  const std::string hash = secrets::sha256_hex(token);
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  Stmt s(db_,
         "SELECT account_id, address, expires_ms FROM sender_verifications WHERE token_hash = ?");
  s.bind(1, std::string_view(hash));
  int rc = s.step();
  if (rc == SQLITE_DONE) return out;
  if (rc != SQLITE_ROW) return s.error(rc, "find verification link");
  out.sender.account_id = s.int64(0);
  out.sender.address = s.text(1);
  if (s.int64(2) <= now_ms_at) {
    out.status = SenderVerification::Status::expired;
    return out;  // kept: opening it again still says "expired", not "unknown"
  }
  Stmt up(db_, "UPDATE senders SET verified = 1 WHERE account_id = ? AND address = ?");
  up.bind(1, out.sender.account_id).bind(2, std::string_view(out.sender.address));
  if (auto r = up.run("verify sender"); !r) return r.error();
  if (db_.changes() == 0) return SenderVerification{};  // sender removed meanwhile
  Stmt del(db_, "DELETE FROM sender_verifications WHERE account_id = ? AND address = ?");
  del.bind(1, out.sender.account_id).bind(2, std::string_view(out.sender.address));
  if (auto r = del.run("delete verification links"); !r) return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  out.status = SenderVerification::Status::verified;
  out.sender.verified = true;
  return out;
}

}  // namespace

core::Result<std::unique_ptr<Store>> Store::open_sqlite(const std::string& path, OpenOptions opt) {
  if (!secrets::init()) return core::Error::temp("store: libsodium could not be initialized");
  // Before SQLite opens it: opening would create a fresh, empty WAL and hide the loss.
  if (!opt.force) {
    if (auto r = db_guard::check(path); !r) return r.error();
  }
  if (auto r = create_private_file(path); !r) return r.error();
  auto db = Db::open(path);
  if (!db) return db.error();
  // busy_timeout first: the pragmas below may need a lock another process holds.
  if (auto r = db->exec("PRAGMA busy_timeout = 5000", "set busy_timeout"); !r) return r.error();
  {
    Stmt s(*db, "PRAGMA journal_mode = WAL");
    int rc = s.step();
    if (rc != SQLITE_ROW) return s.error(rc, "enable WAL");
    std::string mode = s.text(0);
    // In-memory databases cannot use WAL; files must, or CLI and server would block each other.
    if (mode != "wal" && mode != "memory")
      return core::Error::perm(fmt::format("store: cannot enable WAL journal (got {})", mode));
  }
  // FULL: what a client was told (an account, a key, a suppression, a setting) survives a
  // power failure, not only a crash; these writes are rare (docs/performance.md).
  if (auto r = db->exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "set pragmas"); !r)
    return r.error();
  if (auto r = sqlite::migrate(*db); !r) return r.error();
  return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(db).value()));
}

}  // namespace tern::store
