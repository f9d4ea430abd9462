// The repositories on PostgreSQL (pg_backend.hpp for the contract's PostgreSQL side). A Tx holds
// one pooled connection for its whole life. A write Tx is BEGIN plus a transaction-scoped
// advisory lock (write transactions run one at a time across the region, as on SQLite), a read
// Tx one REPEATABLE READ READ ONLY snapshot. Batches (events, suppression look-ups) are one
// pipelined round trip. Foreign keys cascade what an account owns.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_set>

#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

using Mode = Database::Mode;

// Serializes write transactions of one schema across every node; at most lock_timeout waiting.
constexpr const char* kBeginWrite =
    "BEGIN; SET LOCAL lock_timeout = '5s'; "
    "SELECT pg_advisory_xact_lock(hashtext('tern.write.' || current_schema()))";
constexpr const char* kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// What every repository of a Tx shares: the connection and whether writes are allowed.
struct TxConn {
  Conn* c;
  Mode mode;
  core::Result<void> writable() const {
    if (mode == Mode::write) return core::ok();
    return core::Error::internal("store: write in a read transaction");
  }
  template <class... A>
  core::Result<Rows> run(const std::string& sql, std::string_view what, const A&... a) const {
    return c->exec(sql, Params::of(a...), what);
  }
};

template <class T, class RowFn>
core::Result<std::vector<T>> all_rows(core::Result<Rows> r, RowFn row) {
  if (!r) return r.error();
  std::vector<T> out;
  out.reserve(static_cast<size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) out.push_back(row(*r, i));
  return out;
}

template <class T, class RowFn>
core::Result<std::optional<T>> first_row(core::Result<Rows> r, RowFn row) {
  if (!r) return r.error();
  if (r->empty()) return std::optional<T>();
  return std::optional<T>(row(*r, 0));
}

core::Result<void> done(core::Result<Rows> r) {
  if (!r) return r.error();
  return core::ok();
}

core::Result<bool> changed(core::Result<Rows> r) {
  if (!r) return r.error();
  return r->affected() > 0;
}

// --- accounts ---

Account account_row(const Rows& r, int i) {
  return {r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.int64(i, 3)};
}

class Accounts final : public AccountRepo {
 public:
  explicit Accounts(TxConn c) : c_(c) {}
  core::Result<int64_t> insert(const Account& a) override {
    if (auto w = c_.writable(); !w) return w.error();
    auto r = c_.run("INSERT INTO accounts(name, code, created_ms) VALUES($1, $2, $3) RETURNING id",
                    "insert account", a.name, a.code, a.created_ms);
    if (!r) return r.error();
    return r->int64(0, 0);
  }
  core::Result<std::optional<Account>> by_id(int64_t id) override {
    return first_row<Account>(
        c_.run("SELECT id, name, code, created_ms FROM accounts WHERE id = $1", "find account", id),
        account_row);
  }
  core::Result<std::optional<Account>> by_name(std::string_view name) override {
    return first_row<Account>(c_.run("SELECT id, name, code, created_ms FROM accounts WHERE "
                                     "name = $1",
                                     "find account", name),
                              account_row);
  }
  core::Result<std::optional<Account>> by_code(std::string_view code) override {
    return first_row<Account>(c_.run("SELECT id, name, code, created_ms FROM accounts WHERE "
                                     "code = $1",
                                     "find account", code),
                              account_row);
  }
  core::Result<std::vector<Account>> list() override {
    return all_rows<Account>(
        c_.run("SELECT id, name, code, created_ms FROM accounts ORDER BY id", "list accounts"),
        account_row);
  }
  core::Result<void> remove(int64_t id) override {
    if (auto w = c_.writable(); !w) return w;
    auto r = c_.run("DELETE FROM accounts WHERE id = $1", "delete account", id);
    if (!r) return r.error();
    if (r->affected() == 0) return core::Error::not_found(fmt::format("no account with id {}", id));
    return core::ok();
  }

 private:
  TxConn c_;
};

// --- logins ---

CredentialRow credential_row(const Rows& r, int i) {
  return {r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.int64(i, 3)};
}

class Credentials final : public CredentialRepo {
 public:
  explicit Credentials(TxConn c) : c_(c) {}
  core::Result<void> insert(const CredentialRow& c) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("INSERT INTO credentials(account_id, username, password_hash, created_ms) "
               "VALUES($1, $2, $3, $4)",
               "insert credential", c.account_id, c.username, c.password_hash, c.created_ms));
  }
  core::Result<std::optional<CredentialRow>> by_username(std::string_view username) override {
    return first_row<CredentialRow>(
        c_.run("SELECT account_id, username, password_hash, created_ms FROM credentials WHERE "
               "username = $1",
               "verify credentials", username),
        credential_row);
  }
  core::Result<std::vector<CredentialRow>> of_account(int64_t account_id) override {
    return all_rows<CredentialRow>(
        c_.run("SELECT account_id, username, password_hash, created_ms FROM credentials WHERE "
               "account_id = $1 ORDER BY id",
               "list credentials", account_id),
        credential_row);
  }
  core::Result<bool> remove(int64_t account_id, std::string_view username) override {
    if (auto w = c_.writable(); !w) return w.error();
    return changed(c_.run("DELETE FROM credentials WHERE account_id = $1 AND username = $2",
                          "delete credential", account_id, username));
  }

 private:
  TxConn c_;
};

class ApiKeys final : public ApiKeyRepo {
 public:
  explicit ApiKeys(TxConn c) : c_(c) {}
  core::Result<void> insert(const ApiKeyRow& k) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("INSERT INTO api_keys(account_id, prefix, hash, created_ms) VALUES($1, $2, $3, $4)",
               "insert API key", k.key.account_id, k.key.prefix, k.hash, k.key.created_ms));
  }
  core::Result<std::optional<int64_t>> active_account(std::string_view hash) override {
    return first_row<int64_t>(c_.run("SELECT account_id FROM api_keys WHERE hash = $1 AND "
                                     "revoked_ms IS NULL",
                                     "verify API key", hash),
                              [](const Rows& r, int i) { return r.int64(i, 0); });
  }
  core::Result<std::vector<ApiKey>> of_account(int64_t account_id) override {
    return all_rows<ApiKey>(
        c_.run("SELECT account_id, prefix, created_ms, COALESCE(revoked_ms, 0) FROM api_keys "
               "WHERE account_id = $1 ORDER BY id",
               "list API keys", account_id),
        [](const Rows& r, int i) {
          return ApiKey{r.int64(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3)};
        });
  }
  core::Result<int> revoke(int64_t account_id, std::string_view prefix, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w.error();
    auto r = c_.run(
        "UPDATE api_keys SET revoked_ms = $1 WHERE account_id = $2 AND prefix = $3 AND "
        "revoked_ms IS NULL",
        "revoke API key", now_ms, account_id, prefix);
    if (!r) return r.error();
    return static_cast<int>(r->affected());
  }

 private:
  TxConn c_;
};

// --- domains, record states, DKIM keys ---

constexpr std::string_view kDomainColumns =
    "account_id, domain, verified, dkim_mode, ed25519, token, active_slot, next_slot, checked_ms, "
    "created_ms";

class Domains final : public DomainRepo {
 public:
  explicit Domains(TxConn c) : c_(c) {}

  core::Result<std::vector<DomainDetail>> claims(std::string_view domain) override {
    return where(Filter::domain, domain, 0, "verified DESC, created_ms, rowid");
  }
  core::Result<std::optional<DomainDetail>> claim(std::string_view domain,
                                                  int64_t account_id) override {
    auto all = where(Filter::both, domain, account_id, "domain");
    if (!all) return all.error();
    if (all->empty()) return std::optional<DomainDetail>();
    return std::optional<DomainDetail>(std::move(all->front()));
  }
  core::Result<std::vector<DomainDetail>> of_account(int64_t account_id) override {
    return where(Filter::account, {}, account_id, "domain");
  }
  core::Result<std::vector<std::string>> verified_names(int64_t account_id) override {
    return all_rows<std::string>(
        c_.run("SELECT domain FROM domains WHERE account_id = $1 AND verified = 1 ORDER BY domain",
               "read domains", account_id),
        [](const Rows& r, int i) { return r.text(i, 0); });
  }
  core::Result<std::vector<DomainDetail>> all() override {
    return where(Filter::none, {}, 0, "domain, verified DESC, created_ms, rowid");
  }
  core::Result<void> insert(const DomainDetail& d) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run(
        "INSERT INTO domains(account_id, domain, verified, dkim_mode, ed25519, token, "
        "active_slot, next_slot, checked_ms, created_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        "insert domain", d.account_id, d.domain, d.verified, d.dkim_mode, d.ed25519, d.token,
        d.active_slot, d.next_slot, d.checked_ms, d.created_ms));
  }
  core::Result<void> update(const DomainDetail& d) override {
    if (auto w = c_.writable(); !w) return w;
    auto r = c_.run(
        "UPDATE domains SET verified = $1, dkim_mode = $2, ed25519 = $3, active_slot = $4, "
        "next_slot = $5, checked_ms = $6 WHERE domain = $7 AND account_id = $8",
        "update domain", d.verified, d.dkim_mode, d.ed25519, d.active_slot, d.next_slot,
        d.checked_ms, d.domain, d.account_id);
    if (!r) return r.error();
    if (r->affected() == 0)
      return core::Error::not_found(fmt::format("no such domain: {}", d.domain));
    return core::ok();
  }
  core::Result<bool> remove(std::string_view domain, int64_t account_id) override {
    if (auto w = c_.writable(); !w) return w.error();
    return changed(c_.run("DELETE FROM domains WHERE account_id = $1 AND domain = $2",
                          "delete domain", account_id, domain));
  }
  core::Result<void> put_record(int64_t account_id, std::string_view domain,
                                const RecordState& r) override {
    if (auto w = c_.writable(); !w) return w;
    if (r.status == RecordStatus::error)
      return core::Error::invalid("store: a record state without a verdict (error) is not kept");
    return done(c_.run(
        "INSERT INTO domain_records(account_id, domain, id, status, found, checked_ms) "
        "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(account_id, domain, id) DO UPDATE SET "
        "status = excluded.status, found = excluded.found, checked_ms = excluded.checked_ms",
        "save record state", account_id, domain, r.id, to_string(r.status), r.found, r.checked_ms));
  }
  core::Result<std::vector<StoredKey>> keys(int64_t account_id, std::string_view owner) override {
    auto r = c_.run(
        "SELECT version, slot, selector, algorithm, public_b64, private_key, created_ms FROM "
        "dkim_keys WHERE account_id = $1 AND owner = $2 ORDER BY slot, algorithm DESC",
        "read DKIM keys", account_id, owner);
    if (!r) return r.error();
    std::vector<StoredKey> out;
    for (int i = 0; i < r->size(); ++i) {
      StoredKey k;
      k.account_id = account_id;
      k.owner = std::string(owner);
      k.version = r->int64(i, 0);
      k.slot = static_cast<int>(r->int64(i, 1));
      k.selector = r->text(i, 2);
      const auto alg = dkim::parse_key_type(r->view(i, 3));
      if (!alg) return core::Error::corrupt("store: DKIM key of unknown type " + r->text(i, 3));
      k.algorithm = *alg;
      k.public_b64 = r->text(i, 4);
      k.private_pem = r->text(i, 5);
      k.created_ms = r->int64(i, 6);
      out.push_back(std::move(k));
    }
    return out;
  }
  core::Result<int64_t> put_key(const StoredKey& k, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w.error();
    if (auto r =
            c_.run("DELETE FROM dkim_keys WHERE account_id = $1 AND owner = $2 AND slot = $3 "
                   "AND algorithm = $4",
                   "replace DKIM key", k.account_id, k.owner, k.slot, dkim::key_type(k.algorithm));
        !r)
      return r.error();
    // version: an identity, so a version is never given twice.
    auto r = c_.run(
        "INSERT INTO dkim_keys(account_id, owner, slot, selector, algorithm, public_b64, "
        "private_key, created_ms) VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version",
        "store DKIM key", k.account_id, k.owner, k.slot, k.selector, dkim::key_type(k.algorithm),
        k.public_b64, k.private_pem, now_ms);
    if (!r) return r.error();
    return r->int64(0, 0);
  }
  core::Result<void> remove_keys(int64_t account_id, std::string_view owner) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run("DELETE FROM dkim_keys WHERE account_id = $1 AND owner = $2",
                       "delete DKIM keys", account_id, owner));
  }

 private:
  enum class Filter { none, domain, account, both };

  core::Result<std::vector<DomainDetail>> where(Filter f, std::string_view domain,
                                                int64_t account_id, std::string_view order) {
    std::string clause;
    Params p;
    if (f == Filter::domain || f == Filter::both) {
      clause = " WHERE domain = $1";
      p.add(domain);
    }
    if (f == Filter::account || f == Filter::both) {
      clause += clause.empty() ? " WHERE " : " AND ";
      clause += fmt::format("account_id = ${}", p.size() + 1);
      p.add(account_id);
    }
    auto d = c_.c->exec(
        fmt::format("SELECT {} FROM domains{} ORDER BY {}", kDomainColumns, clause, order), p,
        "read domains");
    if (!d) return d.error();
    std::vector<DomainDetail> out;
    for (int i = 0; i < d->size(); ++i) {
      DomainDetail x;
      x.account_id = d->int64(i, 0);
      x.domain = d->text(i, 1);
      x.verified = d->int64(i, 2) != 0;
      x.dkim_mode = d->text(i, 3);
      x.ed25519 = d->int64(i, 4) != 0;
      x.token = d->text(i, 5);
      x.active_slot = static_cast<int>(d->int64(i, 6));
      x.next_slot = static_cast<int>(d->int64(i, 7));
      x.checked_ms = d->int64(i, 8);
      x.created_ms = d->int64(i, 9);
      out.push_back(std::move(x));
    }
    if (out.empty()) return out;
    // The record states of every claim read, in one query with the same filter.
    auto recs = c_.c->exec(fmt::format("SELECT account_id, domain, id, status, found, checked_ms "
                                       "FROM domain_records{} ORDER BY id",
                                       clause),
                           p, "read domain records");
    if (!recs) return recs.error();
    std::map<std::pair<int64_t, std::string>, std::vector<RecordState>> by_claim;
    for (int i = 0; i < recs->size(); ++i) {
      const auto status = parse_record_status(recs->view(i, 3));
      if (!status || *status == RecordStatus::error)
        return core::Error::corrupt("store: record state of unknown status " + recs->text(i, 3));
      by_claim[{recs->int64(i, 0), recs->text(i, 1)}].push_back(
          {recs->text(i, 2), *status, recs->text(i, 4), recs->int64(i, 5)});
    }
    for (auto& x : out)
      if (auto it = by_claim.find({x.account_id, x.domain}); it != by_claim.end())
        x.records = it->second;
    return out;
  }

  TxConn c_;
};

// --- senders and their links ---

class Senders final : public SenderRepo {
 public:
  explicit Senders(TxConn c) : c_(c) {}
  core::Result<void> upsert(const Sender& s, int64_t now_ms) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run(
        "INSERT INTO senders(account_id, address, verified, created_ms) VALUES($1, $2, $3, $4) "
        "ON CONFLICT(account_id, address) DO UPDATE SET verified = excluded.verified",
        "insert sender", s.account_id, s.address, s.verified, now_ms));
  }
  core::Result<std::vector<Sender>> of_account(int64_t account_id) override {
    return all_rows<Sender>(c_.run("SELECT account_id, address, verified FROM senders WHERE "
                                   "account_id = $1 ORDER BY address",
                                   "list senders", account_id),
                            [](const Rows& r, int i) {
                              return Sender{r.int64(i, 0), r.text(i, 1), r.int64(i, 2) != 0};
                            });
  }
  core::Result<bool> set_verified(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    return changed(c_.run("UPDATE senders SET verified = 1 WHERE account_id = $1 AND address = $2",
                          "verify sender", account_id, address));
  }
  core::Result<bool> remove(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    auto r = changed(c_.run("DELETE FROM senders WHERE account_id = $1 AND address = $2",
                            "delete sender", account_id, address));
    if (!r || !*r) return r;
    if (auto l = remove_links(account_id, address); !l) return l.error();
    return true;
  }
  core::Result<void> insert_link(const SenderLink& l) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("INSERT INTO sender_verifications(token_hash, account_id, address, expires_ms, "
               "created_ms) VALUES($1, $2, $3, $4, $5)",
               "store verification link", l.token_hash, l.account_id, l.address, l.expires_ms,
               l.created_ms));
  }
  core::Result<std::optional<SenderLink>> link(std::string_view token_hash) override {
    return first_row<SenderLink>(
        c_.run("SELECT token_hash, account_id, address, expires_ms, created_ms FROM "
               "sender_verifications WHERE token_hash = $1",
               "find verification link", token_hash),
        [](const Rows& r, int i) {
          return SenderLink{r.text(i, 0), r.int64(i, 1), r.text(i, 2), r.int64(i, 3),
                            r.int64(i, 4)};
        });
  }
  core::Result<void> remove_links(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run("DELETE FROM sender_verifications WHERE account_id = $1 AND address = $2",
                       "delete verification links", account_id, address));
  }
  core::Result<void> remove_links_expired_before(int64_t t) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("DELETE FROM sender_verifications WHERE expires_ms < $1", "drop old links", t));
  }

 private:
  TxConn c_;
};

// --- settings rows ---

class Settings final : public SettingRepo {
 public:
  explicit Settings(TxConn c) : c_(c) {}
  core::Result<std::vector<std::pair<std::string, std::string>>> rows(int64_t account_id) override {
    return all_rows<std::pair<std::string, std::string>>(
        c_.run("SELECT key, value FROM settings WHERE account_id = $1 ORDER BY key",
               "read settings", account_id),
        [](const Rows& r, int i) { return std::pair(r.text(i, 0), r.text(i, 1)); });
  }
  core::Result<void> put(int64_t account_id, std::string_view key,
                         std::string_view value) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("INSERT INTO settings(account_id, key, value) VALUES($1, $2, $3) "
               "ON CONFLICT(account_id, key) DO UPDATE SET value = excluded.value",
               "write setting", account_id, key, value));
  }
  core::Result<void> remove(int64_t account_id, std::string_view key) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run("DELETE FROM settings WHERE account_id = $1 AND key = $2", "reset setting",
                       account_id, key));
  }

 private:
  TxConn c_;
};

// --- suppressions ---

class Suppressions final : public SuppressionRepo {
 public:
  explicit Suppressions(TxConn c) : c_(c) {}
  core::Result<void> upsert(const Suppression& s) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run(
        "INSERT INTO suppressions(account_id, address, reason, queue_id, created_ms) "
        "VALUES($1, $2, $3, $4, $5) ON CONFLICT(account_id, address) DO UPDATE SET "
        "reason = excluded.reason, queue_id = excluded.queue_id, created_ms = excluded.created_ms",
        "add suppression", s.account_id, s.address, s.reason, s.queue_id, s.created_ms));
  }
  core::Result<std::vector<Suppression>> of_account(int64_t account_id) override {
    return all_rows<Suppression>(
        c_.run("SELECT account_id, address, reason, queue_id, created_ms FROM suppressions "
               "WHERE account_id = $1 ORDER BY created_ms DESC, address",
               "list suppressions", account_id),
        [](const Rows& r, int i) {
          return Suppression{r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3),
                             r.int64(i, 4)};
        });
  }
  core::Result<bool> remove(int64_t account_id, std::string_view address) override {
    if (auto w = c_.writable(); !w) return w.error();
    return changed(c_.run("DELETE FROM suppressions WHERE account_id = $1 AND address = $2",
                          "remove suppression", account_id, address));
  }
  core::Result<std::vector<std::string>> listed(
      int64_t account_id, const std::vector<std::string>& addresses) override {
    std::vector<std::string> unique;
    std::unordered_set<std::string_view> seen;
    for (const auto& a : addresses)
      if (seen.insert(a).second) unique.push_back(a);
    // One statement for the whole batch.
    auto r = c_.run(
        "SELECT address FROM suppressions WHERE account_id = $1 AND address = ANY($2::text[])",
        "read suppressions", account_id, text_array(unique));
    if (!r) return r.error();
    std::vector<std::string> out;
    for (int i = 0; i < r->size(); ++i) out.push_back(r->text(i, 0));
    return out;
  }
  core::Result<std::vector<Suppression>> search(int64_t account_id, std::string_view after,
                                                std::string_view q, std::string_view reason,
                                                size_t limit) override {
    // ASCII case-insensitive as on SQLite (LIKE there): both sides folded with translate(),
    // never lower(), whose folding depends on the database's locale.
    std::string sql =
        "SELECT account_id, address, reason, queue_id, created_ms FROM suppressions "
        "WHERE account_id = $1";
    Params p;
    p.add(account_id);
    if (!after.empty()) {
      p.add(after);
      sql += fmt::format(" AND address > ${}", p.size());
    }
    const std::string qp = contains_pattern(q), rp = contains_pattern(reason);
    if (!q.empty()) {
      p.add(qp);
      sql += fmt::format(" AND {} LIKE ${} ESCAPE '\\'", kFoldAddress, p.size());
    }
    if (!reason.empty()) {
      p.add(rp);
      sql += fmt::format(" AND {} LIKE ${} ESCAPE '\\'", kFoldReason, p.size());
    }
    p.add(static_cast<int64_t>(limit));
    sql += fmt::format(" ORDER BY address LIMIT ${}", p.size());
    return all_rows<Suppression>(c_.c->exec(sql, p, "search suppressions"), [](const Rows& r,
                                                                               int i) {
      return Suppression{r.int64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.int64(i, 4)};
    });
  }

 private:
  static constexpr std::string_view kFoldAddress =
      "translate(address, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')";
  static constexpr std::string_view kFoldReason =
      "translate(reason, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')";

  // A LIKE pattern matching s anywhere (ASCII lower-cased), LIKE's wildcards in s escaped.
  static std::string contains_pattern(std::string_view s) {
    std::string out = "%";
    for (char c : s) {
      if (c == '%' || c == '_' || c == '\\') out += '\\';
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out + "%";
  }

  TxConn c_;
};

// --- suspensions ---

Suspension suspension_row(const Rows& r, int i) {
  return {r.int64(i, 0), r.text(i, 1), r.int64(i, 2)};
}

class Suspensions final : public SuspensionRepo {
 public:
  explicit Suspensions(TxConn c) : c_(c) {}
  core::Result<void> put(const Suspension& s) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("INSERT INTO account_suspensions(account_id, reason, since_ms) VALUES($1, $2, $3) "
               "ON CONFLICT(account_id) DO UPDATE SET reason = excluded.reason, "
               "since_ms = excluded.since_ms",
               "suspend account", s.account_id, s.reason, s.since_ms));
  }
  core::Result<bool> remove(int64_t account_id) override {
    if (auto w = c_.writable(); !w) return w.error();
    return changed(c_.run("DELETE FROM account_suspensions WHERE account_id = $1",
                          "unsuspend account", account_id));
  }
  core::Result<std::optional<Suspension>> of_account(int64_t account_id) override {
    return first_row<Suspension>(
        c_.run("SELECT account_id, reason, since_ms FROM account_suspensions WHERE "
               "account_id = $1",
               "read suspension", account_id),
        suspension_row);
  }
  core::Result<std::vector<Suspension>> all() override {
    return all_rows<Suspension>(c_.run("SELECT account_id, reason, since_ms FROM "
                                       "account_suspensions ORDER BY account_id",
                                       "read suspensions"),
                                suspension_row);
  }

 private:
  TxConn c_;
};

// --- console sessions and login codes ---

SessionRow session_row(const Rows& r, int i) {
  return {r.text(i, 0),  r.int64(i, 1), r.text(i, 2), r.text(i, 3),
          r.int64(i, 4), r.int64(i, 5), r.int64(i, 6)};
}

class Sessions final : public SessionRepo {
 public:
  explicit Sessions(TxConn c) : c_(c) {}
  core::Result<void> insert(const SessionRow& r) override {
    if (auto w = c_.writable(); !w) return w;
    // An account's session names its key by id (the trigger on api_keys and the cascade end
    // it); an unknown hash leaves api_key_id NULL, which find() never answers.
    constexpr const char* kSql =
        "INSERT INTO console_sessions(id_hash, account_id, api_key_id, operator_hash, "
        "created_ms, last_seen_ms, expires_ms) VALUES($1, $2::bigint, (SELECT id FROM api_keys "
        "WHERE hash = $3::text), $4, $5, $6, $7)";
    Params p;
    p.add(r.id_hash);
    if (r.account_id != 0) {
      p.add(r.account_id).add(r.api_key_hash);
    } else {
      p.add_null().add_null();
    }
    p.add(r.operator_hash).add(r.created_ms).add(r.last_seen_ms).add(r.expires_ms);
    return done(c_.c->exec(kSql, p, "insert session"));
  }
  core::Result<std::optional<SessionRow>> find(std::string_view id_hash) override {
    // An account's session only while its key is active (the trigger deletes the rows of a
    // revoked key; the join is the second line of defence).
    return first_row<SessionRow>(
        c_.run("SELECT s.id_hash, COALESCE(s.account_id, 0), COALESCE(k.hash, ''), "
               "s.operator_hash, s.created_ms, s.last_seen_ms, s.expires_ms FROM "
               "console_sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id WHERE "
               "s.id_hash = $1 AND (s.account_id IS NULL OR (k.revoked_ms IS NULL AND k.id IS "
               "NOT NULL AND k.account_id = s.account_id))",
               "find session", id_hash),
        session_row);
  }
  core::Result<void> touch(std::string_view id_hash, int64_t last_seen_ms) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run(
        "UPDATE console_sessions SET last_seen_ms = $1 WHERE id_hash = $2 AND last_seen_ms < $1",
        "touch session", last_seen_ms, id_hash));
  }
  core::Result<void> remove(std::string_view id_hash) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("DELETE FROM console_sessions WHERE id_hash = $1", "delete session", id_hash));
  }
  core::Result<std::vector<SessionRow>> of_principal(int64_t account_id) override {
    if (account_id == 0)
      return all_rows<SessionRow>(
          c_.run("SELECT s.id_hash, 0, '', s.operator_hash, s.created_ms, s.last_seen_ms, "
                 "s.expires_ms FROM console_sessions s WHERE s.account_id IS NULL "
                 "ORDER BY s.created_ms DESC, s.id_hash DESC",
                 "list sessions"),
          session_row);
    return all_rows<SessionRow>(
        c_.run("SELECT s.id_hash, s.account_id, COALESCE(k.hash, ''), s.operator_hash, "
               "s.created_ms, s.last_seen_ms, s.expires_ms FROM console_sessions s "
               "LEFT JOIN api_keys k ON k.id = s.api_key_id WHERE s.account_id = $1 "
               "ORDER BY s.created_ms DESC, s.id_hash DESC",
               "list sessions", account_id),
        session_row);
  }
  core::Result<void> remove_stale(int64_t ended_by, int64_t seen_by) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run("DELETE FROM console_sessions WHERE expires_ms <= $1 OR last_seen_ms <= $2",
                       "prune sessions", ended_by, seen_by));
  }
  core::Result<void> insert_code(const LoginCodeRow& r) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run(
        "INSERT INTO console_login_codes(code_hash, created_ms, expires_ms) VALUES($1, $2, $3)",
        "insert login code", r.code_hash, r.created_ms, r.expires_ms));
  }
  core::Result<std::optional<LoginCodeRow>> code(std::string_view code_hash) override {
    return first_row<LoginCodeRow>(
        c_.run("SELECT code_hash, created_ms, expires_ms FROM console_login_codes WHERE "
               "code_hash = $1",
               "find login code", code_hash),
        [](const Rows& r, int i) {
          return LoginCodeRow{r.text(i, 0), r.int64(i, 1), r.int64(i, 2)};
        });
  }
  core::Result<bool> remove_code(std::string_view code_hash) override {
    if (auto w = c_.writable(); !w) return w.error();
    return changed(c_.run("DELETE FROM console_login_codes WHERE code_hash = $1",
                          "consume login code", code_hash));
  }
  core::Result<void> remove_codes_expired(int64_t t) override {
    if (auto w = c_.writable(); !w) return w;
    return done(
        c_.run("DELETE FROM console_login_codes WHERE expires_ms <= $1", "prune login codes", t));
  }

 private:
  TxConn c_;
};

// --- hourly counters (written by the trigger stats_hourly_count on delivery_events) ---

class Stats final : public StatsRepo {
 public:
  explicit Stats(TxConn c) : c_(c) {}
  core::Result<std::vector<StatsCount>> hourly(int64_t account_id, int64_t from_ms,
                                               int64_t to_ms) override {
    const auto row = [](const Rows& r, int i) {
      return StatsCount{r.int64(i, 0), r.text(i, 1), r.int64(i, 2)};
    };
    // A range of the table's key (one account) or of its hour index (every account).
    if (account_id != 0)
      return all_rows<StatsCount>(
          c_.run("SELECT hour_ms, event, n FROM stats_hourly WHERE account_id = $3 AND "
                 "hour_ms >= $1 AND hour_ms < $2 ORDER BY hour_ms, event",
                 "read statistics", from_ms, to_ms, account_id),
          row);
    return all_rows<StatsCount>(
        c_.run("SELECT hour_ms, event, SUM(n)::bigint FROM stats_hourly WHERE hour_ms >= $1 AND "
               "hour_ms < $2 GROUP BY hour_ms, event ORDER BY hour_ms, event",
               "read statistics", from_ms, to_ms),
        row);
  }

 private:
  TxConn c_;
};

// --- captured sandbox mail ---

// Recipients are stored as a JSON array of strings (one column; the delivery's identity), the
// same text as on SQLite.
std::string recipients_json(const std::vector<std::string>& r) {
  return nlohmann::json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Raw bytes travel as bytea's hex text ("\x..." in, encode(raw, 'hex') out): parameters are text.
std::string bytea_hex(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 + raw.size() * 2);
  out += "\\x";
  for (unsigned char ch : raw) {
    out += kHex[ch >> 4];
    out += kHex[ch & 0xf];
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  const auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return 0;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1]));
  return out;
}

constexpr std::string_view kCapturedColumns =
    "id, account_id, queue_id, recipients, sender, header_from, subject, message_id, size, "
    "captured_ms";

CapturedMessage captured_row(const Rows& r, int i) {  // kCapturedColumns
  CapturedMessage m;
  std::string recipients;  // a JSON array of strings
  r.read(i, m.id, m.account_id, m.queue_id, recipients, m.sender, m.header_from, m.subject,
         m.message_id, m.size, m.captured_ms);
  auto j = nlohmann::json::parse(recipients, nullptr, false);
  if (j.is_array())
    for (const auto& e : j)
      if (e.is_string()) m.recipients.push_back(e.get<std::string>());
  return m;
}

class Captures final : public CaptureRepo {
 public:
  explicit Captures(TxConn c) : c_(c) {}
  core::Result<void> insert(const CapturedMessage& m) override {
    if (auto w = c_.writable(); !w) return w;
    return done(c_.run(fmt::format("INSERT INTO captured({}, raw) VALUES($1, $2, $3, $4, $5, $6, "
                                   "$7, $8, $9, $10, $11::bytea)",
                                   kCapturedColumns),
                       "store captured message", m.id, m.account_id, m.queue_id,
                       recipients_json(m.recipients), m.sender, m.header_from, m.subject,
                       m.message_id, m.size, m.captured_ms, bytea_hex(m.raw)));
  }
  core::Result<std::optional<std::string>> by_delivery(
      std::string_view queue_id, const std::vector<std::string>& recipients) override {
    return first_row<std::string>(
        c_.run("SELECT id FROM captured WHERE queue_id = $1 AND recipients = $2",
               "find captured message", queue_id, recipients_json(recipients)),
        [](const Rows& r, int i) { return r.text(i, 0); });
  }
  core::Result<std::vector<CapturedMessage>> page(
      int64_t account_id, const std::optional<std::pair<int64_t, std::string>>& after,
      size_t limit) override {
    const auto lim = static_cast<int64_t>(limit);
    if (after)
      return all_rows<CapturedMessage>(
          c_.run(fmt::format("SELECT {} FROM captured WHERE account_id = $1 AND "
                             "(captured_ms, id) < ($3::bigint, $4::text) ORDER BY captured_ms "
                             "DESC, id DESC LIMIT $2",
                             kCapturedColumns),
                 "list captured mail", account_id, lim, after->first, after->second),
          captured_row);
    return all_rows<CapturedMessage>(
        c_.run(fmt::format("SELECT {} FROM captured WHERE account_id = $1 ORDER BY captured_ms "
                           "DESC, id DESC LIMIT $2",
                           kCapturedColumns),
               "list captured mail", account_id, lim),
        captured_row);
  }
  core::Result<std::optional<CapturedMessage>> get(int64_t account_id, std::string_view id,
                                                   bool with_raw) override {
    return first_row<CapturedMessage>(
        c_.run(fmt::format("SELECT {}{} FROM captured WHERE account_id = $1 AND id = $2",
                           kCapturedColumns, with_raw ? ", encode(raw, 'hex')" : ""),
               "read captured message", account_id, id),
        [with_raw](const Rows& r, int i) {
          CapturedMessage m = captured_row(r, i);
          if (with_raw) m.raw = from_hex(r.view(i, 10));
          return m;
        });
  }
  core::Result<size_t> trim(int64_t account_id, size_t keep) override {
    if (auto w = c_.writable(); !w) return w.error();
    auto r = c_.run(
        "DELETE FROM captured WHERE id IN (SELECT id FROM captured WHERE account_id = $1 "
        "ORDER BY captured_ms DESC, id DESC OFFSET $2)",
        "cap captured mail", account_id, static_cast<int64_t>(keep));
    if (!r) return r.error();
    return static_cast<size_t>(r->affected());
  }
  core::Result<size_t> remove_before(int64_t t) override {
    if (auto w = c_.writable(); !w) return w.error();
    auto r = c_.run("DELETE FROM captured WHERE captured_ms < $1", "expire captured mail", t);
    if (!r) return r.error();
    return static_cast<size_t>(r->affected());
  }

 private:
  TxConn c_;
};

// --- delivery events ---

class Events final : public EventRepo {
 public:
  explicit Events(TxConn c) : c_(c) {}
  core::Result<void> append(const std::vector<DeliveryEvent>& events) override {
    if (auto w = c_.writable(); !w) return w;
    if (events.empty()) return core::ok();
    for (const auto& e : events)
      if (e.queue_id.empty()) return core::Error::invalid("delivery event without a queue id");
    // The delivery hot path: every row in one statement (one column array each), so the
    // hourly-counter trigger runs once per batch (migration 13). unnest keeps the rows in
    // their order: ids grow in append order.
    std::vector<int64_t> time_ms, account_id, attempt, code, tls;
    std::vector<std::string> queue_id, recipient, event, enhanced, reply, mx_host, phase, key;
    for (const auto& e : events) {
      time_ms.push_back(e.time_ms);
      queue_id.push_back(e.queue_id);
      account_id.push_back(e.account_id);
      recipient.push_back(e.recipient);
      event.emplace_back(core::to_string(e.event));
      attempt.push_back(e.attempt);
      code.push_back(e.code);
      enhanced.push_back(e.enhanced);
      reply.push_back(e.reply);
      mx_host.push_back(e.mx_host);
      tls.push_back(e.tls ? 1 : 0);
      phase.emplace_back(core::to_string(e.phase));
      key.push_back(e.key);
    }
    auto r = c_.run(
        "INSERT INTO delivery_events(time_ms, queue_id, account_id, recipient, event, attempt, "
        "code, enhanced, reply, mx_host, tls, phase, event_key) "
        "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], "
        "$6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bigint[], "
        "$12::text[], $13::text[]) ON CONFLICT DO NOTHING",
        "record delivery events", int_array(time_ms), text_array(queue_id), int_array(account_id),
        text_array(recipient), text_array(event), int_array(attempt), int_array(code),
        text_array(enhanced), text_array(reply), text_array(mx_host), int_array(tls),
        text_array(phase), text_array(key));
    if (!r) return r.error();
    return core::ok();
  }
  core::Result<std::vector<DeliveryEvent>> of_queue(std::string_view queue_id) override {
    auto r = c_.run(
        "SELECT time_ms, queue_id, account_id, recipient, event, attempt, code, enhanced, reply, "
        "mx_host, tls, phase FROM delivery_events WHERE queue_id = $1 ORDER BY time_ms, id",
        "read delivery events", queue_id);
    if (!r) return r.error();
    std::vector<DeliveryEvent> out;
    for (int i = 0; i < r->size(); ++i) {
      DeliveryEvent e;
      e.time_ms = r->int64(i, 0);
      e.queue_id = r->text(i, 1);
      e.account_id = r->int64(i, 2);
      e.recipient = r->text(i, 3);
      const auto kind = core::parse_event_kind(r->view(i, 4));
      if (!kind)
        return core::Error::corrupt("store: delivery event of unknown kind " + r->text(i, 4));
      e.event = *kind;
      e.attempt = static_cast<int>(r->int64(i, 5));
      e.code = static_cast<int>(r->int64(i, 6));
      e.enhanced = r->text(i, 7);
      e.reply = r->text(i, 8);
      e.mx_host = r->text(i, 9);
      e.tls = r->int64(i, 10) != 0;
      const auto phase = core::parse_phase(r->view(i, 11));
      if (!phase)
        return core::Error::corrupt("store: delivery event of unknown phase " + r->text(i, 11));
      e.phase = *phase;
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  TxConn c_;
};

// --- the unit of work ---

class PgTx final : public Tx {
 public:
  PgTx(Pool::Lease lease, Mode mode)
      : lease_(std::move(lease)),
        conn_{&lease_->conn(), mode},
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
  ~PgTx() override {
    // A broken connection rolled back by itself (the server ends the transaction).
    if (open_ && lease_ && !lease_->conn().broken())
      (void)lease_->conn().exec("ROLLBACK", "roll back");
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
    auto r = lease_->conn().exec("COMMIT", "commit");
    if (!r) return r.error();  // the destructor rolls back (or the connection is gone)
    open_ = false;
    lease_.reset();  // the connection goes back to the pool for the next Tx
    // COMMIT of a transaction an earlier statement aborted answers "ROLLBACK".
    const char* status = PQcmdStatus(r->get());
    if (status != nullptr && std::string_view(status) == "ROLLBACK")
      return core::Error::internal("store: commit: the transaction had failed and was rolled back");
    return core::ok();
  }

 private:
  std::optional<Pool::Lease> lease_;
  TxConn conn_;
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

class PgDatabase final : public Database {
 public:
  explicit PgDatabase(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}
  core::Result<std::unique_ptr<Tx>> begin(Mode mode) override {
    // Nothing has happened before BEGIN: a stale connection (the server restarted, a failover)
    // is replaced and BEGIN tried again.
    core::Error last = core::Error::unavailable("store: no connection");
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
      auto lease = pool_->acquire();
      if (!lease) {
        last = lease.error();
        continue;
      }
      Conn& c = lease->conn();
      auto r = c.exec_script(mode == Mode::write ? kBeginWrite : kBeginRead, "begin");
      if (r) return std::unique_ptr<Tx>(std::make_unique<PgTx>(std::move(lease).value(), mode));
      last = r.error();
      if (c.failure() != Failure::connection) {
        if (!c.broken()) (void)c.exec("ROLLBACK", "roll back");
        return last;
      }
    }
    return last;
  }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<Database> make_database(std::shared_ptr<Pool> pool) {
  return std::make_unique<PgDatabase>(std::move(pool));
}

std::string int_array(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "}";
}

std::string text_array(const std::vector<std::string>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ',';
    s += '"';
    for (char ch : v[i]) {
      if (ch == '"' || ch == '\\') s += '\\';
      s += ch;
    }
    s += '"';
  }
  return s + "}";
}

}  // namespace tern::store::pg
