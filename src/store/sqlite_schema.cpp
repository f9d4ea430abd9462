#include "store/sqlite_schema.hpp"

#include <fmt/format.h>

#include <array>

namespace tern::store::sqlite {

namespace {

constexpr std::array<const char*, 15> kMigrations = {
    // 1: accounts, credentials, API keys, domains, senders, settings.
    R"sql(
CREATE TABLE accounts(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  code TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL);
CREATE TABLE credentials(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE INDEX credentials_account ON credentials(account_id);
CREATE TABLE api_keys(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  revoked_ms INTEGER);
CREATE INDEX api_keys_account ON api_keys(account_id, prefix);
CREATE TABLE domains(
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain TEXT NOT NULL UNIQUE,
  verified INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL);
CREATE INDEX domains_account ON domains(account_id);
CREATE TABLE senders(
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  UNIQUE(account_id, address));
CREATE TABLE settings(
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(account_id, key));
)sql",
    // 2: sending domains: DKIM form, ownership token, selector slots, record check states;
    // DKIM keys (version = a never-reused row id, so caches keyed on it never serve a stale key).
    R"sql(
ALTER TABLE domains ADD COLUMN dkim_mode TEXT NOT NULL DEFAULT 'direct';
ALTER TABLE domains ADD COLUMN ed25519 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN token TEXT NOT NULL DEFAULT '';
ALTER TABLE domains ADD COLUMN active_slot INTEGER NOT NULL DEFAULT 1;
ALTER TABLE domains ADD COLUMN next_slot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN checked_ms INTEGER NOT NULL DEFAULT 0;
UPDATE domains SET token = lower(hex(randomblob(16))) WHERE token = '';
CREATE TABLE domain_records(
  domain TEXT NOT NULL REFERENCES domains(domain) ON DELETE CASCADE,
  id TEXT NOT NULL,
  status TEXT NOT NULL,
  found TEXT NOT NULL DEFAULT '',
  checked_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(domain, id));
CREATE TABLE dkim_keys(
  version INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  owner TEXT NOT NULL,
  slot INTEGER NOT NULL CHECK(slot IN (1, 2)),
  selector TEXT NOT NULL,
  algorithm TEXT NOT NULL CHECK(algorithm IN ('rsa', 'ed25519')),
  public_b64 TEXT NOT NULL,
  private_key TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  UNIQUE(account_id, owner, slot, algorithm));
)sql",
    // 3: delivery (SPEC §4): per-account suppression list (addresses with a lower-case domain)
    // and the delivery event log. Events are a log, not owned data: no foreign key, so a batch
    // on the hot path costs one index insert per row and nothing else.
    R"sql(
CREATE TABLE suppressions(
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  queue_id TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  PRIMARY KEY(account_id, address));
CREATE TABLE delivery_events(
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  queue_id TEXT NOT NULL,
  account_id INTEGER NOT NULL,
  recipient TEXT NOT NULL,
  event TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  code INTEGER NOT NULL DEFAULT 0,
  enhanced TEXT NOT NULL DEFAULT '',
  reply TEXT NOT NULL DEFAULT '',
  mx_host TEXT NOT NULL DEFAULT '',
  tls INTEGER NOT NULL DEFAULT 0);
CREATE INDEX delivery_events_queue ON delivery_events(queue_id);
CREATE INDEX delivery_events_account_time ON delivery_events(account_id, time_ms);
)sql",
    // 4: reports, tracking, API (issue 5).
    // messages: one row per recipient of every accepted message; message_id is the
    // per-recipient id reports and the API carry ("<queue_id>.<rcpt_index>"). status is the
    // recipient's latest state (accepted, deferred, delivered, bounced, expired, rejected).
    // webhook_outbox: reports and tracking events waiting to be POSTed (durable; item is one
    // result or event as JSON, rendered into the account's format when sent).
    // sender_verifications: pending registered-sender links (token stored as SHA-256).
    R"sql(
CREATE TABLE messages(
  message_id TEXT PRIMARY KEY,
  queue_id TEXT NOT NULL,
  rcpt_index INTEGER NOT NULL,
  account_id INTEGER NOT NULL,
  bulk_id TEXT NOT NULL DEFAULT '',
  sender TEXT NOT NULL DEFAULT '',
  recipient TEXT NOT NULL,
  header_from TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'accepted',
  callback_data TEXT NOT NULL DEFAULT '',
  options_json TEXT NOT NULL DEFAULT '{}',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL);
CREATE INDEX messages_account_time ON messages(account_id, created_ms);
CREATE INDEX messages_queue ON messages(queue_id, rcpt_index);
CREATE INDEX messages_account_recipient ON messages(account_id, recipient);
CREATE INDEX messages_account_bulk ON messages(account_id, bulk_id);
CREATE TABLE webhook_outbox(
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  url TEXT NOT NULL,
  content_type TEXT NOT NULL,
  message_id TEXT NOT NULL DEFAULT '',
  queue_id TEXT NOT NULL DEFAULT '',
  recipient TEXT NOT NULL DEFAULT '',
  item TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'pending');
CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_attempt_ms);
CREATE INDEX webhook_outbox_message ON webhook_outbox(message_id);
CREATE TABLE sender_verifications(
  token_hash TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL);
)sql",
    // 5: where a delivery outcome happened ("dns", "connect", "rcpt", ...), so reports can tell
    // an unknown domain from a remote error.
    R"sql(
ALTER TABLE delivery_events ADD COLUMN phase TEXT NOT NULL DEFAULT '';
)sql",
    // 6: domain claims (issue 10 item 11): several accounts may hold an unverified claim on one
    // domain, each with its own token and record states; at most one row per domain is
    // verified (partial unique index). domain_records move to (account_id, domain). Tables are
    // rebuilt (SQLite cannot drop a UNIQUE constraint); the new records table references
    // domains_new, which the rename turns into a reference to domains.
    R"sql(
CREATE TABLE domains_new(
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  dkim_mode TEXT NOT NULL DEFAULT 'direct',
  ed25519 INTEGER NOT NULL DEFAULT 0,
  token TEXT NOT NULL DEFAULT '',
  active_slot INTEGER NOT NULL DEFAULT 1,
  next_slot INTEGER NOT NULL DEFAULT 0,
  checked_ms INTEGER NOT NULL DEFAULT 0,
  UNIQUE(account_id, domain));
INSERT INTO domains_new(account_id, domain, verified, created_ms, dkim_mode, ed25519, token,
                        active_slot, next_slot, checked_ms)
  SELECT account_id, domain, verified, created_ms, dkim_mode, ed25519, token, active_slot,
         next_slot, checked_ms FROM domains;
CREATE TABLE domain_records_new(
  account_id INTEGER NOT NULL,
  domain TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT NOT NULL,
  found TEXT NOT NULL DEFAULT '',
  checked_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(account_id, domain, id),
  FOREIGN KEY(account_id, domain) REFERENCES domains_new(account_id, domain) ON DELETE CASCADE);
INSERT INTO domain_records_new(account_id, domain, id, status, found, checked_ms)
  SELECT d.account_id, r.domain, r.id, r.status, r.found, r.checked_ms
  FROM domain_records r JOIN domains d ON d.domain = r.domain;
DROP TABLE domain_records;
DROP TABLE domains;
ALTER TABLE domains_new RENAME TO domains;
ALTER TABLE domain_records_new RENAME TO domain_records;
CREATE INDEX domains_account ON domains(account_id);
CREATE INDEX domains_domain ON domains(domain);
CREATE UNIQUE INDEX domains_one_verified ON domains(domain) WHERE verified = 1;
)sql",
    // 7: message search without scans (issue 14.13): one index per filter the API offers
    // (none, recipient, bulk id, status), each ending in the order of the result pages
    // (created_ms, message_id), so a search reads only matching rows, newest first, and a
    // cursor's (created_ms, message_id) < (?, ?) is a range on the same index.
    R"sql(
DROP INDEX messages_account_time;
DROP INDEX messages_account_recipient;
DROP INDEX messages_account_bulk;
CREATE INDEX messages_account_time ON messages(account_id, created_ms, message_id);
CREATE INDEX messages_account_recipient_time ON messages(account_id, recipient, created_ms, message_id);
CREATE INDEX messages_account_bulk_time ON messages(account_id, bulk_id, created_ms, message_id);
CREATE INDEX messages_account_status_time ON messages(account_id, status, created_ms, message_id);
)sql",
    // 8: the web console (issue 13).
    // console_sessions: cookie sessions; only the SHA-256 of the cookie is kept. An account's
    // session names the API key that made it: revoking the key (trigger) or deleting the
    // account (cascade) ends it. An operator session keeps the SHA-256 of the operator token it
    // was made with, so a new token ends the old sessions.
    // console_login_codes: one-time operator login codes (SHA-256), short-lived.
    // account_suspensions: a row = the account is suspended, with the reason shown to it.
    // stats_hourly: per-account per-hour counters of delivery events, kept by a trigger in the
    // transaction that writes the event rows (so they can never drift from them, and a restart
    // neither loses nor doubles a count); backfilled once from the events already recorded.
    // captured: mail of accounts on route=sandbox (raw message kept; bounded by count and age).
    // webhook_outbox_account: an account's webhook history, newest first, without a scan;
    // last_code: the HTTP status of the last attempt (0 = none).
    R"sql(
CREATE TABLE console_sessions(
  id_hash TEXT PRIMARY KEY,
  account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
  api_key_id INTEGER REFERENCES api_keys(id) ON DELETE CASCADE,
  operator_hash TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE INDEX console_sessions_account ON console_sessions(account_id);
CREATE INDEX console_sessions_key ON console_sessions(api_key_id);
CREATE TRIGGER console_sessions_key_revoked AFTER UPDATE OF revoked_ms ON api_keys
  WHEN NEW.revoked_ms IS NOT NULL
BEGIN
  DELETE FROM console_sessions WHERE api_key_id = NEW.id;
END;
CREATE TABLE console_login_codes(
  code_hash TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE TABLE account_suspensions(
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  reason TEXT NOT NULL,
  since_ms INTEGER NOT NULL);
CREATE TABLE stats_hourly(
  account_id INTEGER NOT NULL,
  hour_ms INTEGER NOT NULL,
  event TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(account_id, hour_ms, event)) WITHOUT ROWID;
CREATE INDEX stats_hourly_time ON stats_hourly(hour_ms);
INSERT INTO stats_hourly(account_id, hour_ms, event, n)
  SELECT account_id, time_ms - time_ms % 3600000, event, COUNT(*) FROM delivery_events
  GROUP BY 1, 2, 3;
CREATE TRIGGER stats_hourly_count AFTER INSERT ON delivery_events
BEGIN
  INSERT INTO stats_hourly(account_id, hour_ms, event, n)
    VALUES(NEW.account_id, NEW.time_ms - NEW.time_ms % 3600000, NEW.event, 1)
    ON CONFLICT(account_id, hour_ms, event) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER stats_hourly_account_gone AFTER DELETE ON accounts
BEGIN
  DELETE FROM stats_hourly WHERE account_id = OLD.id;
END;
CREATE TABLE captured(
  id TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  queue_id TEXT NOT NULL,
  recipients TEXT NOT NULL,
  sender TEXT NOT NULL DEFAULT '',
  header_from TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL,
  captured_ms INTEGER NOT NULL,
  raw BLOB NOT NULL,
  UNIQUE(queue_id, recipients));
CREATE INDEX captured_account_time ON captured(account_id, captured_ms, id);
CREATE INDEX captured_time ON captured(captured_ms);
CREATE INDEX webhook_outbox_account ON webhook_outbox(account_id, id);
ALTER TABLE webhook_outbox ADD COLUMN last_code INTEGER NOT NULL DEFAULT 0;
)sql",
    // 9: several nodes on one database (issue 12, docs/cluster.md). The same tables exist on
    // SQLite (one node: the registry holds itself) so both backends keep one schema and
    // `tern store copy` moves them. cluster_nodes: the registry (instance tells a restarted
    // node from a second process claiming the same id); cluster_leases: singleton jobs, with a
    // fencing token per name; change_log: config changes every node polls to drop its cached
    // copies; cluster_secrets: what every node must share (operator token, tracking key);
    // node_commands: queue commands for the node that holds a message; auth_failures: AUTH
    // failure counts shared by the nodes; messages.node_id: the node that accepted it;
    // webhook_outbox.lease_owner/lease_token: who claimed an item, under which token.
    R"sql(
CREATE TABLE cluster_nodes(
  node_id TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  version TEXT NOT NULL DEFAULT '',
  started_ms INTEGER NOT NULL,
  seen_ms INTEGER NOT NULL);
CREATE TABLE cluster_leases(
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE TABLE change_log(
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  subject TEXT NOT NULL);
CREATE INDEX change_log_time ON change_log(time_ms);
CREATE TABLE cluster_secrets(
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE TABLE node_commands(
  id INTEGER PRIMARY KEY,
  node_id TEXT NOT NULL,
  command TEXT NOT NULL,
  queue_id TEXT NOT NULL DEFAULT '',
  args TEXT NOT NULL DEFAULT '{}',
  created_ms INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  result TEXT NOT NULL DEFAULT '',
  done_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX node_commands_pending ON node_commands(node_id, state, id);
CREATE TABLE auth_failures(
  key TEXT PRIMARY KEY,
  failures INTEGER NOT NULL,
  window_start_ms INTEGER NOT NULL,
  blocked_until_ms INTEGER NOT NULL DEFAULT 0);
ALTER TABLE messages ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_outbox ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
)sql",
    // 10: the DNS re-check as a queue every node works (issue 12, store/domain_checks.hpp):
    // when each claim is due for its next re-check (0 = not scheduled yet).
    R"sql(
ALTER TABLE domains ADD COLUMN next_check_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX domains_next_check ON domains(next_check_ms);
)sql",
    // 11: idempotency keys of the node-local journal (issue 12, docs/cluster.md "The journal"):
    // a journaled write applied twice (a replay after a crash, a retry once the database is
    // back) adds no second event or outbox item. '' = written without a key (never a conflict).
    R"sql(
ALTER TABLE delivery_events ADD COLUMN event_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX delivery_events_key ON delivery_events(event_key) WHERE event_key <> '';
ALTER TABLE webhook_outbox ADD COLUMN item_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX webhook_outbox_key ON webhook_outbox(item_key) WHERE item_key <> '';
)sql",
    // 12: one running node per node id (issue 12, store/node_registry.hpp): cluster_nodes.instance
    // now names the node's data dir (persistent), address is where its API listens (named when
    // a second node under its id is refused), stopped_ms marks a clean stop (frees the id).
    R"sql(
ALTER TABLE cluster_nodes ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE cluster_nodes ADD COLUMN stopped_ms INTEGER NOT NULL DEFAULT 0;
)sql",
    // 13: PostgreSQL counts the hourly statistics once per statement (pg_schema.cpp, migration
    // 13); SQLite has no statement triggers and keeps its per-row one. Nothing changes here:
    // both backends stay at one version (store copy needs that).
    R"sql(
SELECT 1;
)sql",
    // 14 (nodeid2: the per-run nonce): cluster_nodes.run is the nonce each `tern serve` draws at
    // start and writes at every check-in; a heartbeat that finds another run under its own
    // instance stops the node (a cloned data dir, store/node_registry.hpp). '' = written by an
    // older binary.
    R"sql(
ALTER TABLE cluster_nodes ADD COLUMN run TEXT NOT NULL DEFAULT '';
)sql",
    // 15: a claim reads one range: the pending items of one group (account, kind, url,
    // content_type) by due time (store/outbox.hpp), not the account's items in id order past
    // every sent and leased one. Partial: a sent or failed item leaves the index.
    R"sql(
CREATE INDEX webhook_outbox_claim ON webhook_outbox(account_id, kind, url, content_type,
  next_attempt_ms, id) WHERE state = 'pending';
)sql",
};

core::Result<int64_t> current_version(const Db& db) {
  Stmt s(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  int rc = s.step();
  if (rc != SQLITE_ROW) return s.error(rc, "read schema version");
  return s.int64(0);
}

}  // namespace

std::span<const char* const> migrations() { return kMigrations; }

core::Result<void> migrate(const Db& db) {
  if (auto r = db.exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)",
                       "create schema_version");
      !r)
    return r;
  const auto all = migrations();
  const auto newest = static_cast<int64_t>(all.size());
  for (int64_t target = 1; target <= newest; ++target) {
    Txn txn(db);
    if (auto r = txn.begin_immediate(); !r) return r;
    // Re-read under the write lock: another process may have migrated meanwhile.
    auto v = current_version(db);
    if (!v) return v.error();
    if (*v > newest)
      return core::Error::conflict(
          fmt::format("store: database schema version {} is newer than this program supports ({})",
                      *v, newest));
    if (*v >= target) continue;  // Txn rolls back the empty transaction
    if (auto r = db.exec(all[static_cast<size_t>(target - 1)], fmt::format("migration {}", target));
        !r)
      return r;
    Stmt ins(db, "INSERT INTO schema_version(version) VALUES(?)");
    if (auto r = ins.bind(1, target).run("record schema version"); !r) return r;
    if (auto r = txn.commit(); !r) return r;
  }
  // A file from a newer program with nothing left to do here still must be refused.
  auto v = current_version(db);
  if (!v) return v.error();
  if (*v > newest)
    return core::Error::conflict(fmt::format(
        "store: database schema version {} is newer than this program supports ({})", *v, newest));
  return core::ok();
}

}  // namespace tern::store::sqlite
