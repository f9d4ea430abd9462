// The repositories on SQLite (the embedded default). One connection per Database, serialized
// by a mutex that a Tx holds for its whole life; other processes (the CLI next to a running
// server) open their own connection to the same file. WAL lets readers proceed while one
// writer writes; busy_timeout makes writers queue instead of failing; a write Tx is one
// BEGIN IMMEDIATE transaction (the write lock up front: no SQLITE_BUSY on lock upgrade), a read
// Tx one deferred BEGIN (one snapshot). Foreign keys cascade what an account owns.
// Statements are prepared once per connection (sqlite::StmtCache) and reused; delivery events
// are written through one statement per batch, bound without copies.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "store/db_guard.hpp"
#include "store/secrets.hpp"
#include "store/sqlite_backend.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_schema.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using Mode = Database::Mode;

core::Result<void> create_private_file(const std::string& path) {
  if (path == ":memory:" || path.starts_with("file:")) return core::ok();
  // 0600: the file holds password hashes and account data. SQLite creates -wal and -shm
  // with the same mode as the database file.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return core::Error::unavailable(
        fmt::format("store: cannot open {}: {}", path, std::strerror(errno)));
  ::close(fd);
  return core::ok();
}

// What every repository of a Tx shares: the connection and whether writes are allowed.
struct Conn {
  const Db& db;
  sqlite::StmtCache& cache;  // statements are prepared once per connection
  Mode mode;
  core::Result<void> writable() const {
    if (mode == Mode::write) return core::ok();
    return core::Error::internal("store: write in a read transaction");
  }
};

// Steps s to the end, turning each row into a T with `row`; an error for a failed step.
template <class T, class RowFn>
core::Result<std::vector<T>> rows_of(Stmt& s, std::string_view what, RowFn row) {
  std::vector<T> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(row(s));
  if (rc != SQLITE_DONE) return s.error(rc, what);
  return out;
}

// The first row as a T, nullopt when none.
template <class T, class RowFn>
core::Result<std::optional<T>> row_of(Stmt& s, std::string_view what, RowFn row) {
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<T>();
  if (rc != SQLITE_ROW) return s.error(rc, what);
  return std::optional<T>(row(s));
}

// --- accounts ---

Account account_row(const Stmt& s) { return {s.int64(0), s.text(1), s.text(2), s.int64(3)}; }

class Accounts final : public AccountRepo {
 public:
  explicit Accounts(Conn c) : c_(c) {}
  core::Result<int64_t> insert(const Account& a) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt s(c_.cache, "INSERT INTO accounts(name, code, created_ms) VALUES(?, ?, ?)");
    s.bind(1, std::string_view(a.name)).bind(2, std::string_view(a.code)).bind(3, a.created_ms);
    if (auto r = s.run("insert account"); !r) return r.error();
    return c_.db.last_insert_rowid();
  }
  core::Result<std::optional<Account>> by_id(int64_t id) override {
    Stmt s(c_.cache, "SELECT id, name, code, created_ms FROM accounts WHERE id = ?");
    s.bind(1, id);
    return row_of<Account>(s, "find account", account_row);
  }
  core::Result<std::optional<Account>> by_name(std::string_view name) override {
    Stmt s(c_.cache, "SELECT id, name, code, created_ms FROM accounts WHERE name = ?");
    s.bind(1, name);
    return row_of<Account>(s, "find account", account_row);
  }
  core::Result<std::optional<Account>> by_code(std::string_view code) override {
    Stmt s(c_.cache, "SELECT id, name, code, created_ms FROM accounts WHERE code = ?");
    s.bind(1, code);
    return row_of<Account>(s, "find account", account_row);
  }
  core::Result<std::vector<Account>> list() override {
    Stmt s(c_.cache, "SELECT id, name, code, created_ms FROM accounts ORDER BY id");
    return rows_of<Account>(s, "list accounts", account_row);
  }
  core::Result<void> remove(int64_t id) override {
    if (auto w = c_.writable(); !w) return w;
    // Foreign keys cascade to everything the account owns (domain records via domains).
    Stmt del(c_.cache, "DELETE FROM accounts WHERE id = ?");
    del.bind(1, id);
    if (auto r = del.run("delete account"); !r) return r;
    if (c_.db.changes() == 0)
      return core::Error::not_found(fmt::format("no account with id {}", id));
    return core::ok();
  }

 private:
  Conn c_;
};

// --- logins ---

CredentialRow credential_row(const Stmt& s) {
  return {s.int64(0), s.text(1), s.text(2), s.int64(3)};
}

class Credentials final : public CredentialRepo {
 public:
  explicit Credentials(Conn c) : c_(c) {}
  core::Result<void> insert(const CredentialRow& c) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache,
           "INSERT INTO credentials(account_id, username, password_hash, created_ms) "
           "VALUES(?, ?, ?, ?)");
    s.bind(1, c.account_id)
        .bind(2, std::string_view(c.username))
        .bind(3, std::string_view(c.password_hash))
        .bind(4, c.created_ms);
    return s.run("insert credential");
  }
  core::Result<std::optional<CredentialRow>> by_username(std::string_view username) override {
    Stmt s(c_.cache,
           "SELECT account_id, username, password_hash, created_ms FROM credentials "
           "WHERE username = ?");
    s.bind(1, username);
    return row_of<CredentialRow>(s, "verify credentials", credential_row);
  }
  core::Result<std::vector<CredentialRow>> of_account(int64_t account_id) override {
    Stmt s(c_.cache,
           "SELECT account_id, username, password_hash, created_ms FROM credentials "
           "WHERE account_id = ? ORDER BY id");
    s.bind(1, account_id);
    return rows_of<CredentialRow>(s, "list credentials", credential_row);
  }
  core::Result<bool> remove(int64_t account_id, std::string_view username) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt del(c_.cache, "DELETE FROM credentials WHERE account_id = ? AND username = ?");
    del.bind(1, account_id).bind(2, username);
    if (auto r = del.run("delete credential"); !r) return r.error();
    return c_.db.changes() > 0;
  }

 private:
  Conn c_;
};

class ApiKeys final : public ApiKeyRepo {
 public:
  explicit ApiKeys(Conn c) : c_(c) {}
  core::Result<void> insert(const ApiKeyRow& k) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache,
           "INSERT INTO api_keys(account_id, prefix, hash, created_ms) VALUES(?, ?, ?, ?)");
    s.bind(1, k.key.account_id)
        .bind(2, std::string_view(k.key.prefix))
        .bind(3, std::string_view(k.hash))
        .bind(4, k.key.created_ms);
    return s.run("insert API key");
  }
  core::Result<std::optional<int64_t>> active_account(std::string_view hash) override {
    Stmt s(c_.cache, "SELECT account_id FROM api_keys WHERE hash = ? AND revoked_ms IS NULL");
    s.bind(1, hash);
    return row_of<int64_t>(s, "verify API key", [](const Stmt& r) { return r.int64(0); });
  }
  core::Result<std::vector<ApiKey>> of_account(int64_t account_id) override {
    Stmt s(c_.cache,
           "SELECT account_id, prefix, created_ms, COALESCE(revoked_ms, 0) FROM api_keys "
           "WHERE account_id = ? ORDER BY id");
    s.bind(1, account_id);
    return rows_of<ApiKey>(s, "list API keys", [](const Stmt& r) {
      return ApiKey{r.int64(0), r.text(1), r.int64(2), r.int64(3)};
    });
  }
  core::Result<int> revoke(int64_t account_id, std::string_view prefix, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt s(c_.cache,
           "UPDATE api_keys SET revoked_ms = ? "
           "WHERE account_id = ? AND prefix = ? AND revoked_ms IS NULL");
    s.bind(1, now_ms).bind(2, account_id).bind(3, prefix);
    if (auto r = s.run("revoke API key"); !r) return r.error();
    return static_cast<int>(c_.db.changes());
  }

 private:
  Conn c_;
};

// --- domains, record states, DKIM keys ---

constexpr std::string_view kDomainColumns =
    "account_id, domain, verified, dkim_mode, ed25519, token, active_slot, next_slot, checked_ms, "
    "created_ms";

class Domains final : public DomainRepo {
 public:
  explicit Domains(Conn c) : c_(c) {}

  core::Result<std::vector<DomainDetail>> claims(std::string_view domain) override {
    return where("WHERE domain = ?1", domain, 0, "verified DESC, created_ms, rowid");
  }
  core::Result<std::optional<DomainDetail>> claim(std::string_view domain,
                                                  int64_t account_id) override {
    auto all = where("WHERE domain = ?1 AND account_id = ?2", domain, account_id, "domain");
    if (!all) return all.error();
    if (all->empty()) return std::optional<DomainDetail>();
    return std::optional<DomainDetail>(std::move(all->front()));
  }
  core::Result<std::vector<DomainDetail>> of_account(int64_t account_id) override {
    return where("WHERE account_id = ?2", {}, account_id, "domain");
  }
  core::Result<std::vector<std::string>> verified_names(int64_t account_id) override {
    Stmt s(c_.cache,
           "SELECT domain FROM domains WHERE account_id = ? AND verified = 1 ORDER BY domain");
    s.bind(1, account_id);
    return rows_of<std::string>(s, "read domains", [](const Stmt& r) { return r.text(0); });
  }
  core::Result<std::vector<DomainDetail>> all() override {
    return where("", {}, 0, "domain, verified DESC, created_ms, rowid");
  }
  core::Result<void> insert(const DomainDetail& d) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache,
           "INSERT INTO domains(account_id, domain, verified, dkim_mode, ed25519, token, "
           "active_slot, next_slot, checked_ms, created_ms) VALUES(?,?,?,?,?,?,?,?,?,?)");
    s.bind(1, d.account_id)
        .bind(2, std::string_view(d.domain))
        .bind(3, int64_t{d.verified})
        .bind(4, std::string_view(d.dkim_mode))
        .bind(5, int64_t{d.ed25519})
        .bind(6, std::string_view(d.token))
        .bind(7, int64_t{d.active_slot})
        .bind(8, int64_t{d.next_slot})
        .bind(9, d.checked_ms)
        .bind(10, d.created_ms);
    return s.run("insert domain");
  }
  core::Result<void> update(const DomainDetail& d) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache,
           "UPDATE domains SET verified = ?, dkim_mode = ?, ed25519 = ?, active_slot = ?, "
           "next_slot = ?, checked_ms = ? WHERE domain = ? AND account_id = ?");
    s.bind(1, int64_t{d.verified})
        .bind(2, std::string_view(d.dkim_mode))
        .bind(3, int64_t{d.ed25519})
        .bind(4, int64_t{d.active_slot})
        .bind(5, int64_t{d.next_slot})
        .bind(6, d.checked_ms)
        .bind(7, std::string_view(d.domain))
        .bind(8, d.account_id);
    if (auto r = s.run("update domain"); !r) return r;
    if (c_.db.changes() == 0)
      return core::Error::not_found(fmt::format("no such domain: {}", d.domain));
    return core::ok();
  }
  core::Result<bool> remove(std::string_view domain, int64_t account_id) override {
    if (auto w = c_.writable(); !w) return w.error();
    // Its record states go by the foreign key's cascade.
    Stmt del(c_.cache, "DELETE FROM domains WHERE account_id = ? AND domain = ?");
    del.bind(1, account_id).bind(2, domain);
    if (auto r = del.run("delete domain"); !r) return r.error();
    return c_.db.changes() > 0;
  }
  core::Result<void> put_record(int64_t account_id, std::string_view domain,
                                const RecordState& r) override {
    if (auto w = c_.writable(); !w) return w;
    if (r.status == RecordStatus::error)
      return core::Error::invalid("store: a record state without a verdict (error) is not kept");
    Stmt s(c_.cache,
           "INSERT INTO domain_records(account_id, domain, id, status, found, checked_ms) "
           "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(account_id, domain, id) DO UPDATE SET "
           "status = excluded.status, found = excluded.found, checked_ms = excluded.checked_ms");
    s.bind(1, account_id)
        .bind(2, domain)
        .bind(3, std::string_view(r.id))
        .bind(4, to_string(r.status))
        .bind(5, std::string_view(r.found))
        .bind(6, r.checked_ms);
    return s.run("save record state");
  }
  core::Result<std::vector<StoredKey>> keys(int64_t account_id, std::string_view owner) override {
    Stmt s(c_.cache,
           "SELECT version, slot, selector, algorithm, public_b64, private_key, created_ms "
           "FROM dkim_keys WHERE account_id = ? AND owner = ? ORDER BY slot, algorithm DESC");
    s.bind(1, account_id).bind(2, owner);
    std::vector<StoredKey> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      StoredKey k;
      k.account_id = account_id;
      k.owner = std::string(owner);
      k.version = s.int64(0);
      k.slot = static_cast<int>(s.int64(1));
      k.selector = s.text(2);
      const auto alg = dkim::parse_key_type(s.text(3));
      if (!alg) return core::Error::corrupt("store: DKIM key of unknown type " + s.text(3));
      k.algorithm = *alg;
      k.public_b64 = s.text(4);
      k.private_pem = s.text(5);
      k.created_ms = s.int64(6);
      out.push_back(std::move(k));
    }
    if (rc != SQLITE_DONE) return s.error(rc, "read DKIM keys");
    return out;
  }
  core::Result<int64_t> put_key(const StoredKey& k, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt del(c_.cache,
             "DELETE FROM dkim_keys WHERE account_id = ? AND owner = ? AND slot = ? AND "
             "algorithm = ?");
    del.bind(1, k.account_id)
        .bind(2, std::string_view(k.owner))
        .bind(3, int64_t{k.slot})
        .bind(4, dkim::key_type(k.algorithm));
    if (auto r = del.run("replace DKIM key"); !r) return r.error();
    // version: AUTOINCREMENT, so a version is never given twice.
    Stmt ins(c_.cache,
             "INSERT INTO dkim_keys(account_id, owner, slot, selector, algorithm, public_b64, "
             "private_key, created_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, k.account_id)
        .bind(2, std::string_view(k.owner))
        .bind(3, int64_t{k.slot})
        .bind(4, std::string_view(k.selector))
        .bind(5, dkim::key_type(k.algorithm))
        .bind(6, std::string_view(k.public_b64))
        .bind(7, std::string_view(k.private_pem))
        .bind(8, now_ms);
    if (auto r = ins.run("store DKIM key"); !r) return r.error();
    return c_.db.last_insert_rowid();
  }
  core::Result<void> remove_keys(int64_t account_id, std::string_view owner) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt del(c_.cache, "DELETE FROM dkim_keys WHERE account_id = ? AND owner = ?");
    del.bind(1, account_id).bind(2, owner);
    return del.run("delete DKIM keys");
  }

 private:
  // `clause` may use ?1 (a domain) and ?2 (an account id).
  core::Result<std::vector<DomainDetail>> where(std::string_view clause, std::string_view domain,
                                                int64_t account_id, std::string_view order) {
    std::vector<DomainDetail> out;
    {
      Stmt s(c_.cache,
             fmt::format("SELECT {} FROM domains {} ORDER BY {}", kDomainColumns, clause, order));
      if (clause.find("?1") != std::string_view::npos) s.bind(1, domain);
      if (clause.find("?2") != std::string_view::npos) s.bind(2, account_id);
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
        d.created_ms = s.int64(9);
        out.push_back(std::move(d));
      }
      if (rc != SQLITE_DONE) return s.error(rc, "read domains");
    }
    Stmt s(c_.cache,
           "SELECT id, status, found, checked_ms FROM domain_records WHERE account_id = ? AND "
           "domain = ? ORDER BY id");
    for (auto& d : out) {
      s.reset();
      s.bind(1, d.account_id).bind(2, std::string_view(d.domain));
      int rc;
      while ((rc = s.step()) == SQLITE_ROW) {
        const auto status = parse_record_status(s.text(1));
        if (!status || *status == RecordStatus::error)
          return core::Error::corrupt("store: record state of unknown status " + s.text(1));
        d.records.push_back({s.text(0), *status, s.text(2), s.int64(3)});
      }
      if (rc != SQLITE_DONE) return s.error(rc, "read domain records");
    }
    return out;
  }

  Conn c_;
};

// --- senders and their links ---

class Senders final : public SenderRepo {
 public:
  explicit Senders(Conn c) : c_(c) {}
  core::Result<void> upsert(const Sender& s, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt st(c_.cache,
            "INSERT INTO senders(account_id, address, verified, created_ms) VALUES(?, ?, ?, ?) "
            "ON CONFLICT(account_id, address) DO UPDATE SET verified = excluded.verified");
    st.bind(1, s.account_id)
        .bind(2, std::string_view(s.address))
        .bind(3, int64_t{s.verified})
        .bind(4, now_ms);
    return st.run("insert sender");
  }
  core::Result<std::vector<Sender>> of_account(int64_t account_id) override {
    Stmt s(c_.cache,
           "SELECT account_id, address, verified FROM senders WHERE account_id = ? "
           "ORDER BY address");
    s.bind(1, account_id);
    return rows_of<Sender>(s, "list senders", [](const Stmt& r) {
      return Sender{r.int64(0), r.text(1), r.int64(2) != 0};
    });
  }
  core::Result<bool> set_verified(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt up(c_.cache, "UPDATE senders SET verified = 1 WHERE account_id = ? AND address = ?");
    up.bind(1, account_id).bind(2, address);
    if (auto r = up.run("verify sender"); !r) return r.error();
    return c_.db.changes() > 0;
  }
  core::Result<bool> remove(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt del(c_.cache, "DELETE FROM senders WHERE account_id = ? AND address = ?");
    del.bind(1, account_id).bind(2, address);
    if (auto r = del.run("delete sender"); !r) return r.error();
    if (c_.db.changes() == 0) return false;
    if (auto r = remove_links(account_id, address); !r) return r.error();
    return true;
  }
  core::Result<void> insert_link(const SenderLink& l) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt ins(c_.cache,
             "INSERT INTO sender_verifications(token_hash, account_id, address, expires_ms, "
             "created_ms) VALUES(?, ?, ?, ?, ?)");
    ins.bind(1, std::string_view(l.token_hash))
        .bind(2, l.account_id)
        .bind(3, std::string_view(l.address))
        .bind(4, l.expires_ms)
        .bind(5, l.created_ms);
    return ins.run("store verification link");
  }
  core::Result<std::optional<SenderLink>> link(std::string_view token_hash) override {
    Stmt s(c_.cache,
           "SELECT token_hash, account_id, address, expires_ms, created_ms "
           "FROM sender_verifications WHERE token_hash = ?");
    s.bind(1, token_hash);
    return row_of<SenderLink>(s, "find verification link", [](const Stmt& r) {
      return SenderLink{r.text(0), r.int64(1), r.text(2), r.int64(3), r.int64(4)};
    });
  }
  core::Result<void> remove_links(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt del(c_.cache, "DELETE FROM sender_verifications WHERE account_id = ? AND address = ?");
    del.bind(1, account_id).bind(2, address);
    return del.run("delete verification links");
  }
  core::Result<void> remove_links_expired_before(int64_t t) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt del(c_.cache, "DELETE FROM sender_verifications WHERE expires_ms < ?");
    del.bind(1, t);
    return del.run("drop old links");
  }

 private:
  Conn c_;
};

// --- settings rows ---

class Settings final : public SettingRepo {
 public:
  explicit Settings(Conn c) : c_(c) {}
  core::Result<std::vector<std::pair<std::string, std::string>>> rows(int64_t account_id) override {
    Stmt s(c_.cache, "SELECT key, value FROM settings WHERE account_id = ? ORDER BY key");
    s.bind(1, account_id);
    return rows_of<std::pair<std::string, std::string>>(
        s, "read settings", [](const Stmt& r) { return std::pair(r.text(0), r.text(1)); });
  }
  core::Result<void> put(int64_t account_id, std::string_view key,
                         std::string_view value) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt up(c_.cache,
            "INSERT INTO settings(account_id, key, value) VALUES(?, ?, ?) "
            "ON CONFLICT(account_id, key) DO UPDATE SET value = excluded.value");
    up.bind(1, account_id).bind(2, key).bind(3, value);
    return up.run("write setting");
  }
  core::Result<void> remove(int64_t account_id, std::string_view key) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt del(c_.cache, "DELETE FROM settings WHERE account_id = ? AND key = ?");
    del.bind(1, account_id).bind(2, key);
    return del.run("reset setting");
  }

 private:
  Conn c_;
};

// --- suppressions ---

// A LIKE pattern matching s anywhere, with LIKE's wildcards in s escaped.
std::string contains_pattern(std::string_view s) {
  std::string out = "%";
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

class Suppressions final : public SuppressionRepo {
 public:
  explicit Suppressions(Conn c) : c_(c) {}
  core::Result<void> upsert(const Suppression& s) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt up(c_.cache,
            "INSERT INTO suppressions(account_id, address, reason, queue_id, created_ms) "
            "VALUES(?, ?, ?, ?, ?) ON CONFLICT(account_id, address) DO UPDATE SET "
            "reason = excluded.reason, queue_id = excluded.queue_id, "
            "created_ms = excluded.created_ms");
    up.bind(1, s.account_id)
        .bind(2, std::string_view(s.address))
        .bind(3, std::string_view(s.reason))
        .bind(4, std::string_view(s.queue_id))
        .bind(5, s.created_ms);
    return up.run("add suppression");
  }
  core::Result<std::vector<Suppression>> of_account(int64_t account_id) override {
    Stmt s(c_.cache,
           "SELECT account_id, address, reason, queue_id, created_ms FROM suppressions "
           "WHERE account_id = ? ORDER BY created_ms DESC, address");
    s.bind(1, account_id);
    return rows_of<Suppression>(s, "list suppressions", [](const Stmt& r) {
      return Suppression{r.int64(0), r.text(1), r.text(2), r.text(3), r.int64(4)};
    });
  }
  core::Result<bool> remove(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt del(c_.cache, "DELETE FROM suppressions WHERE account_id = ? AND address = ?");
    del.bind(1, account_id).bind(2, address);
    if (auto r = del.run("remove suppression"); !r) return r.error();
    return c_.db.changes() > 0;
  }
  core::Result<std::vector<std::string>> listed(
      int64_t account_id, const std::vector<std::string>& addresses) override {
    std::vector<std::string> out;
    Stmt s(c_.cache, "SELECT 1 FROM suppressions WHERE account_id = ? AND address = ?");
    for (const auto& a : addresses) {
      if (std::find(out.begin(), out.end(), a) != out.end()) continue;
      s.reset();
      s.bind(1, account_id).bind(2, std::string_view(a));
      int rc = s.step();
      if (rc == SQLITE_ROW)
        out.push_back(a);
      else if (rc != SQLITE_DONE)
        return s.error(rc, "read suppression");
    }
    return out;
  }

  core::Result<std::vector<Suppression>> search(int64_t account_id, std::string_view after,
                                                std::string_view q, std::string_view reason,
                                                size_t limit) override {
    std::string sql =
        "SELECT account_id, address, reason, queue_id, created_ms FROM suppressions "
        "WHERE account_id = ?1";
    if (!after.empty()) sql += " AND address > ?2";
    if (!q.empty()) sql += " AND address LIKE ?3 ESCAPE '\\'";
    if (!reason.empty()) sql += " AND reason LIKE ?4 ESCAPE '\\'";
    sql += " ORDER BY address LIMIT ?5";
    Stmt s(c_.cache, sql);
    s.bind(1, account_id);
    if (!after.empty()) s.bind(2, after);
    const std::string qp = contains_pattern(q), rp = contains_pattern(reason);
    if (!q.empty()) s.bind(3, std::string_view(qp));
    if (!reason.empty()) s.bind(4, std::string_view(rp));
    s.bind(5, static_cast<int64_t>(limit));
    return rows_of<Suppression>(s, "search suppressions", [](const Stmt& r) {
      return Suppression{r.int64(0), r.text(1), r.text(2), r.text(3), r.int64(4)};
    });
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
    Stmt up(c_.cache,
            "INSERT INTO account_suspensions(account_id, reason, since_ms) VALUES(?, ?, ?) "
            "ON CONFLICT(account_id) DO UPDATE SET reason = excluded.reason, "
            "since_ms = excluded.since_ms");
    up.bind(1, s.account_id).bind(2, std::string_view(s.reason)).bind(3, s.since_ms);
    return up.run("suspend account");
  }
  core::Result<bool> remove(int64_t account_id) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt del(c_.cache, "DELETE FROM account_suspensions WHERE account_id = ?");
    del.bind(1, account_id);
    if (auto r = del.run("unsuspend account"); !r) return r.error();
    return c_.db.changes() > 0;
  }
  core::Result<std::optional<Suspension>> of_account(int64_t account_id) override {
    Stmt s(c_.cache,
           "SELECT account_id, reason, since_ms FROM account_suspensions WHERE account_id = ?");
    s.bind(1, account_id);
    auto rows = rows_of<Suspension>(s, "read suspension", [](const Stmt& r) {
      return Suspension{r.int64(0), r.text(1), r.int64(2)};
    });
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<Suspension>();
    return std::optional<Suspension>(std::move(rows->front()));
  }
  core::Result<std::vector<Suspension>> all() override {
    Stmt s(c_.cache,
           "SELECT account_id, reason, since_ms FROM account_suspensions ORDER BY account_id");
    return rows_of<Suspension>(s, "read suspensions", [](const Stmt& r) {
      return Suspension{r.int64(0), r.text(1), r.int64(2)};
    });
  }

 private:
  Conn c_;
};

// --- console sessions and login codes ---

class Sessions final : public SessionRepo {
 public:
  explicit Sessions(Conn c) : c_(c) {}
  core::Result<void> insert(const SessionRow& r) override {
    if (auto w = c_.writable(); !w) return w;
    // An account's session names its key by id (the trigger on api_keys and the cascade end
    // it); an unknown hash leaves api_key_id NULL, which find() never answers.
    Stmt s(c_.cache,
           "INSERT INTO console_sessions(id_hash, account_id, api_key_id, operator_hash, "
           "created_ms, last_seen_ms, expires_ms) VALUES(?1, ?2, (SELECT id FROM api_keys "
           "WHERE hash = ?3), ?4, ?5, ?6, ?7)");
    s.bind(1, std::string_view(r.id_hash));
    if (r.account_id != 0) {
      s.bind(2, r.account_id).bind(3, std::string_view(r.api_key_hash));
    } else {
      s.bind_null(2).bind_null(3);
    }
    s.bind(4, std::string_view(r.operator_hash))
        .bind(5, r.created_ms)
        .bind(6, r.last_seen_ms)
        .bind(7, r.expires_ms);
    return s.run("insert session");
  }
  core::Result<std::optional<SessionRow>> find(std::string_view id_hash) override {
    // An account's session only while its key is active (the trigger deletes the rows of a
    // revoked key; the join is the second line of defence).
    Stmt s(c_.cache,
           "SELECT s.id_hash, COALESCE(s.account_id, 0), COALESCE(k.hash, ''), s.operator_hash, "
           "s.created_ms, s.last_seen_ms, s.expires_ms FROM console_sessions s "
           "LEFT JOIN api_keys k ON k.id = s.api_key_id WHERE s.id_hash = ? AND "
           "(s.account_id IS NULL OR (k.revoked_ms IS NULL AND k.id IS NOT NULL AND "
           "k.account_id = s.account_id))");
    s.bind(1, id_hash);
    return row_of<SessionRow>(s, "find session", session_row);
  }
  core::Result<void> touch(std::string_view id_hash, int64_t last_seen_ms) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache,
           "UPDATE console_sessions SET last_seen_ms = ?1 WHERE id_hash = ?2 AND "
           "last_seen_ms < ?1");
    s.bind(1, last_seen_ms).bind(2, id_hash);
    return s.run("touch session");
  }
  core::Result<void> remove(std::string_view id_hash) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache, "DELETE FROM console_sessions WHERE id_hash = ?");
    s.bind(1, id_hash);
    return s.run("delete session");
  }
  core::Result<std::vector<SessionRow>> of_principal(int64_t account_id) override {
    Stmt s(c_.cache,
           account_id == 0
               ? "SELECT s.id_hash, 0, '', s.operator_hash, s.created_ms, s.last_seen_ms, "
                 "s.expires_ms FROM console_sessions s WHERE s.account_id IS NULL "
                 "ORDER BY s.created_ms DESC, s.id_hash DESC"
               : "SELECT s.id_hash, s.account_id, COALESCE(k.hash, ''), s.operator_hash, "
                 "s.created_ms, s.last_seen_ms, s.expires_ms FROM console_sessions s "
                 "LEFT JOIN api_keys k ON k.id = s.api_key_id WHERE s.account_id = ?1 "
                 "ORDER BY s.created_ms DESC, s.id_hash DESC");
    if (account_id != 0) s.bind(1, account_id);
    return rows_of<SessionRow>(s, "list sessions", session_row);
  }
  core::Result<void> remove_stale(int64_t ended_by, int64_t seen_by) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache, "DELETE FROM console_sessions WHERE expires_ms <= ? OR last_seen_ms <= ?");
    s.bind(1, ended_by).bind(2, seen_by);
    return s.run("prune sessions");
  }
  core::Result<void> insert_code(const LoginCodeRow& r) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache,
           "INSERT INTO console_login_codes(code_hash, created_ms, expires_ms) VALUES(?, ?, ?)");
    s.bind(1, std::string_view(r.code_hash)).bind(2, r.created_ms).bind(3, r.expires_ms);
    return s.run("insert login code");
  }
  core::Result<std::optional<LoginCodeRow>> code(std::string_view code_hash) override {
    Stmt s(c_.cache,
           "SELECT code_hash, created_ms, expires_ms FROM console_login_codes WHERE code_hash = ?");
    s.bind(1, code_hash);
    return row_of<LoginCodeRow>(s, "find login code", [](const Stmt& r) {
      return LoginCodeRow{r.text(0), r.int64(1), r.int64(2)};
    });
  }
  core::Result<bool> remove_code(std::string_view code_hash) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt s(c_.cache, "DELETE FROM console_login_codes WHERE code_hash = ?");
    s.bind(1, code_hash);
    if (auto r = s.run("consume login code"); !r) return r.error();
    return c_.db.changes() > 0;
  }
  core::Result<void> remove_codes_expired(int64_t t) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache, "DELETE FROM console_login_codes WHERE expires_ms <= ?");
    s.bind(1, t);
    return s.run("prune login codes");
  }

 private:
  static SessionRow session_row(const Stmt& r) {
    return {r.text(0), r.int64(1), r.text(2), r.text(3), r.int64(4), r.int64(5), r.int64(6)};
  }
  Conn c_;
};

// --- hourly counters (written by the trigger stats_hourly_count on delivery_events) ---

class Stats final : public StatsRepo {
 public:
  explicit Stats(Conn c) : c_(c) {}
  core::Result<std::vector<StatsCount>> hourly(int64_t account_id, int64_t from_ms,
                                               int64_t to_ms) override {
    // A range of the table's key (one account) or of its hour index (every account).
    Stmt s(c_.cache, account_id != 0
                         ? "SELECT hour_ms, event, n FROM stats_hourly WHERE account_id = ?3 AND "
                           "hour_ms >= ?1 AND hour_ms < ?2 ORDER BY hour_ms, event"
                         : "SELECT hour_ms, event, SUM(n) FROM stats_hourly WHERE hour_ms >= ?1 "
                           "AND hour_ms < ?2 GROUP BY hour_ms, event ORDER BY hour_ms, event");
    s.bind(1, from_ms).bind(2, to_ms);
    if (account_id != 0) s.bind(3, account_id);
    return rows_of<StatsCount>(s, "read statistics", [](const Stmt& r) {
      return StatsCount{r.int64(0), r.text(1), r.int64(2)};
    });
  }

 private:
  Conn c_;
};

// --- captured sandbox mail ---

// Recipients are stored as a JSON array of strings (one column; the delivery's identity).
std::string recipients_json(const std::vector<std::string>& r) {
  return nlohmann::json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

constexpr std::string_view kCapturedColumns =
    "id, account_id, queue_id, recipients, sender, header_from, subject, message_id, size, "
    "captured_ms";

class Captures final : public CaptureRepo {
 public:
  explicit Captures(Conn c) : c_(c) {}
  core::Result<void> insert(const CapturedMessage& m) override {
    if (auto w = c_.writable(); !w) return w;
    Stmt s(c_.cache, fmt::format("INSERT INTO captured({}, raw) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                                 kCapturedColumns));
    const std::string rcpts = recipients_json(m.recipients);
    s.bind(1, std::string_view(m.id))
        .bind(2, m.account_id)
        .bind(3, std::string_view(m.queue_id))
        .bind(4, std::string_view(rcpts))
        .bind(5, std::string_view(m.sender))
        .bind(6, std::string_view(m.header_from))
        .bind(7, std::string_view(m.subject))
        .bind(8, std::string_view(m.message_id))
        .bind(9, m.size)
        .bind(10, m.captured_ms)
        .bind(11, std::string_view(m.raw));
    return s.run("store captured message");
  }
  core::Result<std::optional<std::string>> by_delivery(
      std::string_view queue_id, const std::vector<std::string>& recipients) override {
    Stmt s(c_.cache, "SELECT id FROM captured WHERE queue_id = ? AND recipients = ?");
    const std::string rcpts = recipients_json(recipients);
    s.bind(1, queue_id).bind(2, std::string_view(rcpts));
    return row_of<std::string>(s, "find captured message", [](const Stmt& r) { return r.text(0); });
  }
  core::Result<std::vector<CapturedMessage>> page(
      int64_t account_id, const std::optional<std::pair<int64_t, std::string>>& after,
      size_t limit) override {
    Stmt s(c_.cache,
           fmt::format("SELECT {} FROM captured WHERE account_id = ?1 {} "
                       "ORDER BY captured_ms DESC, id DESC LIMIT ?2",
                       kCapturedColumns, after ? "AND (captured_ms, id) < (?3, ?4)" : ""));
    s.bind(1, account_id).bind(2, static_cast<int64_t>(limit));
    if (after) s.bind(3, after->first).bind(4, std::string_view(after->second));
    return rows_of<CapturedMessage>(s, "list captured mail", captured_row);
  }
  core::Result<std::optional<CapturedMessage>> get(int64_t account_id, std::string_view id,
                                                   bool with_raw) override {
    Stmt s(c_.cache, fmt::format("SELECT {}{} FROM captured WHERE account_id = ? AND id = ?",
                                 kCapturedColumns, with_raw ? ", raw" : ""));
    s.bind(1, account_id).bind(2, id);
    return row_of<CapturedMessage>(s, "read captured message", [&](const Stmt& r) {
      CapturedMessage m = captured_row(r);
      if (with_raw) m.raw = r.text(10);
      return m;
    });
  }
  core::Result<size_t> trim(int64_t account_id, size_t keep) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt s(c_.cache,
           "DELETE FROM captured WHERE id IN (SELECT id FROM captured WHERE account_id = ? "
           "ORDER BY captured_ms DESC, id DESC LIMIT -1 OFFSET ?)");
    s.bind(1, account_id).bind(2, static_cast<int64_t>(keep));
    if (auto r = s.run("cap captured mail"); !r) return r.error();
    return static_cast<size_t>(c_.db.changes());
  }
  core::Result<size_t> remove_before(int64_t t) override {
    if (auto w = c_.writable(); !w) return w.error();
    Stmt s(c_.cache, "DELETE FROM captured WHERE captured_ms < ?");
    s.bind(1, t);
    if (auto r = s.run("expire captured mail"); !r) return r.error();
    return static_cast<size_t>(c_.db.changes());
  }

 private:
  static CapturedMessage captured_row(const Stmt& s) {
    CapturedMessage m;
    m.id = s.text(0);
    m.account_id = s.int64(1);
    m.queue_id = s.text(2);
    auto j = nlohmann::json::parse(s.text(3), nullptr, false);
    if (j.is_array())
      for (const auto& e : j)
        if (e.is_string()) m.recipients.push_back(e.get<std::string>());
    m.sender = s.text(4);
    m.header_from = s.text(5);
    m.subject = s.text(6);
    m.message_id = s.text(7);
    m.size = s.int64(8);
    m.captured_ms = s.int64(9);
    return m;
  }
  Conn c_;
};

// --- delivery events ---

class Events final : public EventRepo {
 public:
  explicit Events(Conn c) : c_(c) {}
  core::Result<void> append(const std::vector<DeliveryEvent>& events) override {
    if (auto w = c_.writable(); !w) return w;
    if (events.empty()) return core::ok();
    // One statement, prepared once per connection and reset per row, values bound without
    // copies: the batch costs no parse at all.
    Stmt st(c_.cache,
            "INSERT INTO delivery_events(time_ms, queue_id, account_id, recipient, event, "
            "attempt, code, enhanced, reply, mx_host, tls, phase, event_key) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    for (const auto& e : events) {
      // Checked row by row inside the transaction: a bad row fails the Tx after the rows
      // before it were written, and the caller drops it (all or nothing).
      if (e.queue_id.empty()) return core::Error::invalid("delivery event without a queue id");
      st.reset();
      st.bind(1, e.time_ms)
          .bind_static(2, e.queue_id)
          .bind(3, e.account_id)
          .bind_static(4, e.recipient)
          .bind_static(5, core::to_string(e.event))
          .bind(6, int64_t{e.attempt})
          .bind(7, int64_t{e.code})
          .bind_static(8, e.enhanced)
          .bind_static(9, e.reply)
          .bind_static(10, e.mx_host)
          .bind(11, int64_t{e.tls ? 1 : 0})
          .bind_static(12, core::to_string(e.phase))
          .bind_static(13, e.key);
      if (auto r = st.run("record delivery event"); !r) return r;
    }
    return core::ok();
  }
  core::Result<std::vector<DeliveryEvent>> of_queue(std::string_view queue_id) override {
    Stmt s(c_.cache,
           "SELECT time_ms, queue_id, account_id, recipient, event, attempt, code, enhanced, "
           "reply, mx_host, tls, phase FROM delivery_events WHERE queue_id = ? ORDER BY time_ms, "
           "id");
    s.bind(1, queue_id);
    std::vector<DeliveryEvent> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      DeliveryEvent e;
      e.time_ms = s.int64(0);
      e.queue_id = s.text(1);
      e.account_id = s.int64(2);
      e.recipient = s.text(3);
      const auto kind = core::parse_event_kind(s.text(4));
      if (!kind) return core::Error::corrupt("store: delivery event of unknown kind " + s.text(4));
      e.event = *kind;
      e.attempt = static_cast<int>(s.int64(5));
      e.code = static_cast<int>(s.int64(6));
      e.enhanced = s.text(7);
      e.reply = s.text(8);
      e.mx_host = s.text(9);
      e.tls = s.int64(10) != 0;
      const auto phase = core::parse_phase(s.text(11));
      if (!phase)
        return core::Error::corrupt("store: delivery event of unknown phase " + s.text(11));
      e.phase = *phase;
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return s.error(rc, "read delivery events");
    return out;
  }

 private:
  Conn c_;
};

// --- the unit of work ---

class SqliteTx final : public Tx {
 public:
  SqliteTx(std::unique_lock<std::mutex> lock, const Db& db, sqlite::StmtCache& cache, Mode mode)
      : lock_(std::move(lock)),
        conn_{db, cache, mode},
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
  ~SqliteTx() override {
    if (open_) (void)Stmt(conn_.cache, "ROLLBACK").run("roll back");
  }
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
    if (!open_) return core::Error::internal("store: transaction already ended");
    auto r = Stmt(conn_.cache, "COMMIT").run("commit");
    if (!r) return r;  // the destructor rolls back
    open_ = false;
    lock_.unlock();  // the connection is free for the next Tx; this one is done
    return r;
  }

 private:
  std::unique_lock<std::mutex> lock_;
  Conn conn_;
  bool open_ = true;
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

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(Db db) : db_(std::move(db)), cache_(db_) {}
  core::Result<std::unique_ptr<Tx>> begin(Mode mode) override {
    std::unique_lock lock(mu_);
    if (auto r = Stmt(cache_, mode == Mode::write ? "BEGIN IMMEDIATE" : "BEGIN").run("begin"); !r)
      return r.error();
    return std::unique_ptr<Tx>(std::make_unique<SqliteTx>(std::move(lock), db_, cache_, mode));
  }

 private:
  std::mutex mu_;
  Db db_;
  sqlite::StmtCache cache_;  // after db_: destroyed (statements finalized) before it closes
};

}  // namespace

core::Result<std::unique_ptr<Database>> open_sqlite_database(const std::string& path,
                                                             SqliteOptions opt) {
  if (!secrets::init())
    return core::Error::unavailable("store: libsodium could not be initialized");
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
      return core::Error::internal(fmt::format("store: cannot enable WAL journal (got {})", mode));
  }
  // FULL: what a client was told (an account, a key, a suppression, a setting) survives a
  // power failure, not only a crash; these writes are rare (docs/performance.md).
  if (auto r = db->exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "set pragmas"); !r)
    return r.error();
  if (auto r = sqlite::migrate(*db); !r) return r.error();
  return std::unique_ptr<Database>(std::make_unique<SqliteDatabase>(std::move(db).value()));
}

}  // namespace tern::store
