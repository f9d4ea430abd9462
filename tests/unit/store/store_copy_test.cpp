// `tern store copy` (store_copy.hpp): a SQLite store filled through the public services is
// copied into a fresh PostgreSQL schema and read back through the PostgreSQL backend: every
// table row for row (ids, versions, sealed keys, counters), every service's view field by
// field; ids made after the copy are new; a target with rows, a source that is not a migrated
// Tern store or at another schema version, and a bad value midway are refused with the target
// as it was; the target URL's password never shows.
#include "store/store_copy.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "store/backend.hpp"
#include "store/pg_db.hpp"
#include "store/sqlite_schema.hpp"
#include "unit/store/pg_test_server.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

const std::string kMaster(32, 'M');
constexpr int64_t kNow = 1'780'000'000'000;
// Captured mail is bytes: a NUL, bytes that are not UTF-8, COPY's escape characters.
const std::string kRaw =
    std::string("Subject: captured\r\n\r\nbinary \x00\x01\xff\\ body\n\t.", 40);

using Table = std::vector<std::vector<std::string>>;  // rows of cells, sorted

// Every row of every table of the SQLite file, as text (blobs as lower-case hex).
std::map<std::string, Table> dump_sqlite(const std::string& path) {
  std::map<std::string, Table> out;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::vector<std::string> names;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                     "'sqlite_%' AND name <> 'schema_version'",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW)
    names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  for (const auto& n : names) {
    Table t;
    const std::string sql =
        "SELECT *" + std::string(n == "domains" ? ", rowid" : "") + " FROM " + n;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << n;
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        std::string cell = sqlite3_column_name(st, i);
        cell += "=";
        const char* decl = sqlite3_column_decltype(st, i);
        const bool blob = decl != nullptr && std::string_view(decl) == "BLOB";
        switch (sqlite3_column_type(st, i) == SQLITE_NULL ? SQLITE_NULL
                : blob                                    ? SQLITE_BLOB
                                                          : SQLITE_TEXT) {
          case SQLITE_NULL:
            cell += "NULL";
            break;
          case SQLITE_BLOB: {
            const auto* b = static_cast<const unsigned char*>(sqlite3_column_blob(st, i));
            static constexpr char hex[] = "0123456789abcdef";
            for (int k = 0; k < sqlite3_column_bytes(st, i); ++k) {
              cell += hex[b[k] >> 4];
              cell += hex[b[k] & 15];
            }
            break;
          }
          default:
            cell += reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        }
        row.push_back(cell);
      }
      std::ranges::sort(row);
      t.push_back(row);
    }
    sqlite3_finalize(st);
    std::ranges::sort(t);
    out[n] = t;
  }
  sqlite3_close_v2(db);
  return out;
}

// The same for the PostgreSQL schema (bytea as hex).
std::map<std::string, Table> dump_pg(const std::string& url) {
  std::map<std::string, Table> out;
  auto c = pg::Conn::connect(url);
  EXPECT_TRUE(c.ok());
  auto cols = c->exec(
      "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
      "table_schema = current_schema() AND table_name <> 'schema_version' ORDER BY 1, "
      "ordinal_position",
      "columns");
  EXPECT_TRUE(cols.ok());
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> tables;
  for (int i = 0; i < cols->size(); ++i)
    tables[cols->text(i, 0)].emplace_back(cols->text(i, 1), cols->text(i, 2));
  for (const auto& [name, cs] : tables) {
    std::string sel;
    for (const auto& [col, type] : cs)
      sel += (sel.empty() ? "" : ", ") +
             (type == "bytea" ? "encode(\"" + col + "\", 'hex')" : "\"" + col + "\"");
    auto rows = c->exec("SELECT " + sel + " FROM " + name, "dump " + name);
    EXPECT_TRUE(rows.ok()) << name;
    Table t;
    for (int r = 0; r < rows->size(); ++r) {
      std::vector<std::string> row;
      for (size_t k = 0; k < cs.size(); ++k)
        row.push_back(cs[k].first + "=" +
                      (rows->is_null(r, static_cast<int>(k)) ? std::string("NULL")
                                                             : rows->text(r, static_cast<int>(k))));
      std::ranges::sort(row);
      t.push_back(row);
    }
    std::ranges::sort(t);
    out[name] = t;
  }
  return out;
}

int64_t pg_count(const std::string& url, const std::string& table) {
  auto c = pg::Conn::connect(url);
  EXPECT_TRUE(c.ok());
  auto r = c->exec("SELECT count(*) FROM " + table, "count");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r->int64(0, 0) : -1;
}

DkimKey key(int slot, dkim::Algorithm alg, const std::string& pem) {
  DkimKey k;
  k.slot = slot;
  k.algorithm = alg;
  k.selector = "tern" + std::to_string(slot) + (alg == dkim::Algorithm::ed25519_sha256 ? "e" : "");
  k.public_b64 = "PUB-" + pem;
  k.private_pem = pem;
  return k;
}

struct Filled {
  int64_t acme = 0, other = 0;
  std::string acme_user, acme_password, api_key;
  std::vector<DkimKey> keys;
  std::vector<SigningKey> signing;
  int64_t newest_version = 0;  // of a key deleted since
  std::vector<MessageRecord> messages;
  std::vector<OutboxItem> outbox;
};

// A node's store with something in every part, written through the services.
Filled fill(const std::string& path) {
  Filled f;
  auto b = open_backend("sqlite:" + path, {.master_key = kMaster});
  EXPECT_TRUE(b.ok()) << b.error().message;
  Store& s = *b->store;
  auto gone = s.accounts.create("gone");  // a gap in the ids: ids must be kept, not renumbered
  auto acme = s.accounts.create("acme");
  auto other = s.accounts.create("other");
  EXPECT_TRUE(gone.ok() && acme.ok() && other.ok());
  EXPECT_TRUE(s.accounts.remove(gone->account.id).ok());
  f.acme = acme->account.id;
  f.other = other->account.id;
  f.acme_user = acme->username;
  f.acme_password = acme->password;
  f.api_key = s.api_keys.create(f.acme).value();
  auto revoked = s.api_keys.create(f.other).value();
  EXPECT_TRUE(s.api_keys.revoke(f.other, s.api_keys.list(f.other).value().at(0).prefix).ok());
  EXPECT_TRUE(s.domains.add(f.acme, "acme.test", true).ok());
  EXPECT_TRUE(s.domains.add(f.other, "other.test", false).ok());
  // Replaced keys leave a gap in the versions (AUTOINCREMENT) that must never be reused.
  EXPECT_TRUE(
      s.domains.put_keys(f.acme, "acme.test", {key(1, dkim::Algorithm::rsa_sha256, "OLD")}, false)
          .ok());
  auto keys = s.domains.put_keys(f.acme, "acme.test",
                                 {key(1, dkim::Algorithm::rsa_sha256, "PEM-RSA-1"),
                                  key(1, dkim::Algorithm::ed25519_sha256, "PEM-ED-1")},
                                 true);
  EXPECT_TRUE(keys.ok()) << keys.error().message;
  f.keys = s.domains.keys(f.acme, "acme.test", true).value();
  // The DNS check passed (the domain's records and both selectors): its keys sign.
  DomainCheckUpdate u;
  u.domain = "acme.test";
  u.account_id = f.acme;
  u.verified = true;
  u.checked_ms = kNow;
  for (const char* id : {"ownership", "dkim:tern1", "dkim:tern1e"})
    u.records.push_back({id, RecordStatus::ok, "", kNow});
  auto checked = s.domains.save_check(u);
  EXPECT_TRUE(checked.ok()) << checked.error().message;
  f.signing = s.domains.signing_keys(f.acme, "acme.test").value();
  EXPECT_EQ(f.signing.size(), 1u);  // RSA (Ed25519 signs only when the domain asks for it)
  // The newest key version ever made goes with its domain: SQLite's AUTOINCREMENT mark stays
  // above every version left, and PostgreSQL must not hand that version out again.
  EXPECT_TRUE(s.domains.add(f.other, "brief.test", true).ok());
  auto brief = s.domains.put_keys(f.other, "brief.test",
                                  {key(1, dkim::Algorithm::rsa_sha256, "PEM-BRIEF")}, true);
  EXPECT_TRUE(brief.ok() && !brief->empty());
  f.newest_version = brief->empty() ? 0 : brief->front().version;
  EXPECT_TRUE(s.domains.remove(f.other, "brief.test").ok());
  EXPECT_TRUE(s.senders.add(f.acme, "news@acme.test", true).ok());
  EXPECT_TRUE(s.settings.set(f.acme, {{"bounce_notices", "off"}}).ok());
  EXPECT_TRUE(
      s.suppressions.add({f.acme, "gone@example.com", "550 5.1.1 no such user", "Q1", kNow}).ok());
  EXPECT_TRUE(s.suspensions.suspend(f.other, "unpaid", kNow).ok());
  EXPECT_TRUE(s.sessions.create_for_api_key(f.api_key, kNow).ok());
  EXPECT_TRUE(s.sessions.create_login_code(kNow, 600000).ok());
  CapturedMessage cap;
  cap.account_id = f.acme;
  cap.queue_id = "QCAP";
  cap.recipients = {"x@example.com"};
  cap.subject = "captured";
  cap.raw = kRaw;
  cap.size = static_cast<int64_t>(cap.raw.size());
  EXPECT_TRUE(s.captured.add(cap, kNow).ok());
  for (int i = 0; i < 3; ++i) {
    MessageRecord m;
    m.queue_id = "QMSG" + std::to_string(i);
    m.rcpt_index = 0;
    m.message_id = make_message_id(m.queue_id, 0);
    m.account_id = f.acme;
    m.sender = "news@acme.test";
    m.recipient = "r" + std::to_string(i) + "@example.com";
    m.header_from = "News <news@acme.test>";
    m.subject = "tab\there, newline\nthere, backslash \\ and é";
    m.callback_data = "cb" + std::to_string(i);
    m.created_ms = m.updated_ms = kNow + i;
    m.node_id = "node-a";
    f.messages.push_back(m);
  }
  EXPECT_TRUE(b->messages->record_accepted(f.messages).ok());
  std::vector<DeliveryEvent> evs;
  for (int i = 0; i < 3; ++i) {
    DeliveryEvent e;
    e.time_ms = kNow + 10 + i;
    e.queue_id = "QMSG" + std::to_string(i);
    e.account_id = f.acme;
    e.recipient = "r" + std::to_string(i) + "@example.com";
    e.event = i == 2 ? core::EventKind::bounced : core::EventKind::delivered;
    e.attempt = 1;
    e.code = i == 2 ? 550 : 250;
    e.reply = "ok\tdone";
    e.mx_host = "mx.example.com";
    e.tls = true;
    e.phase = core::Phase::data;
    evs.push_back(e);
  }
  EXPECT_TRUE(s.events.record(evs).ok());
  for (int i = 0; i < 2; ++i) {
    OutboxItem it;
    it.account_id = f.acme;
    it.kind = OutboxKind::report;
    it.url = "https://hooks.acme.test/r";
    it.content_type = "application/json";
    it.message_id = f.messages[static_cast<size_t>(i)].message_id;
    it.queue_id = f.messages[static_cast<size_t>(i)].queue_id;
    it.recipient = f.messages[static_cast<size_t>(i)].recipient;
    it.item = R"({"messageId":"x","status":"DELIVERED"})";
    f.outbox.push_back(it);
  }
  EXPECT_TRUE(b->outbox->enqueue(f.outbox, kNow).ok());
  f.outbox = b->outbox->for_message(f.messages[0].message_id).value();
  auto more = b->outbox->for_message(f.messages[1].message_id).value();
  f.outbox.insert(f.outbox.end(), more.begin(), more.end());
  return f;
}

TEST(StoreCopy, EveryTableArrivesWithItsIdsAndReadsBackThroughThePgBackend) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  Filled f = fill(path);
  test::PgSchema schema;

  auto rep = copy_store("sqlite:" + path, schema.url());
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->schema_version, static_cast<int64_t>(sqlite::migrations().size()));
  std::map<std::string, int64_t> counted;
  for (const auto& t : rep->tables) counted[t.table] = t.rows;
  EXPECT_EQ(counted["accounts"], 2);
  EXPECT_EQ(counted["messages"], 3);
  EXPECT_EQ(counted["delivery_events"], 3);
  EXPECT_EQ(counted["webhook_outbox"], 2);
  EXPECT_EQ(counted["dkim_keys"], 2);

  // Row for row, every table, every column (ids, sealed keys, stats counters, change log).
  const auto src = dump_sqlite(path);
  const auto dst = dump_pg(schema.url());
  ASSERT_EQ(src.size(), dst.size());
  for (const auto& [name, rows] : src) {
    ASSERT_TRUE(dst.contains(name)) << name;
    EXPECT_EQ(rows, dst.at(name)) << "table " << name;
    EXPECT_EQ(counted[name], static_cast<int64_t>(rows.size())) << name;
  }
  EXPECT_GT(src.at("stats_hourly").size(), 0u);  // counted once, not again by the trigger

  // Through the services, with the same master key.
  auto b = open_backend(schema.url(), {.master_key = kMaster});
  ASSERT_TRUE(b.ok()) << b.error().message;
  Store& s = *b->store;
  auto acme = s.accounts.find("acme").value();
  ASSERT_TRUE(acme.has_value());
  EXPECT_EQ(acme->id, f.acme);
  EXPECT_EQ(s.accounts.find("other").value()->id, f.other);
  EXPECT_FALSE(s.accounts.find("gone").value().has_value());
  EXPECT_EQ(s.credentials.verify(f.acme_user, f.acme_password).value(), f.acme);
  EXPECT_EQ(s.api_keys.verify(f.api_key).value(), f.acme);
  auto keys = s.domains.keys(f.acme, "acme.test", true);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), f.keys.size());
  for (size_t i = 0; i < keys->size(); ++i) {
    EXPECT_EQ((*keys)[i].version, f.keys[i].version);
    EXPECT_EQ((*keys)[i].private_pem, f.keys[i].private_pem);  // unsealed with the same key
    EXPECT_EQ((*keys)[i].selector, f.keys[i].selector);
    EXPECT_EQ((*keys)[i].created_ms, f.keys[i].created_ms);
  }
  auto signing = s.domains.signing_keys(f.acme, "acme.test").value();
  ASSERT_EQ(signing.size(), f.signing.size());
  for (size_t i = 0; i < signing.size(); ++i) {
    EXPECT_EQ(signing[i].version, f.signing[i].version);
    EXPECT_EQ(signing[i].selector, f.signing[i].selector);
    EXPECT_EQ(signing[i].private_pem, f.signing[i].private_pem);
  }
  EXPECT_TRUE(s.suppressions.contains(f.acme, "gone@example.com").value());
  EXPECT_EQ(s.senders.list(f.acme).value().size(), 1u);
  EXPECT_EQ(s.suspensions.get(f.other).value()->reason, "unpaid");
  EXPECT_EQ(s.settings.get(f.acme, false).value().bounce_notices, false);
  for (const auto& m : f.messages) {
    auto back = b->messages->find(m.message_id).value();
    ASSERT_TRUE(back.has_value()) << m.message_id;
    EXPECT_EQ(back->queue_id, m.queue_id);
    EXPECT_EQ(back->account_id, m.account_id);
    EXPECT_EQ(back->recipient, m.recipient);
    EXPECT_EQ(back->subject, m.subject);
    EXPECT_EQ(back->callback_data, m.callback_data);
    EXPECT_EQ(back->created_ms, m.created_ms);
    EXPECT_EQ(back->node_id, m.node_id);
  }
  auto evs = s.events.for_queue("QMSG2").value();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].event, core::EventKind::bounced);
  EXPECT_EQ(evs[0].reply, "ok\tdone");
  for (const auto& it : f.outbox) {
    auto back = b->outbox->find(it.account_id, it.id).value();
    ASSERT_TRUE(back.has_value()) << it.id;
    EXPECT_EQ(back->item, it.item);
    EXPECT_EQ(back->message_id, it.message_id);
    EXPECT_EQ(back->created_ms, it.created_ms);
  }
  auto cap = s.captured.list(f.acme, 10, "").value();
  ASSERT_EQ(cap.items.size(), 1u);
  auto raw = s.captured.get(f.acme, cap.items[0].id, true).value();
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->raw, kRaw);

  // Sequences moved past the copied ids (and past SQLite's AUTOINCREMENT mark).
  auto fresh = s.accounts.create("fresh");
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  EXPECT_GT(fresh->account.id, f.other);
  int64_t max_version = 0;
  for (const auto& k : f.keys) max_version = std::max(max_version, k.version);
  ASSERT_GT(f.newest_version, max_version);  // the newest version is gone from the rows
  auto nk = s.domains.put_keys(f.other, "other.test",
                               {key(1, dkim::Algorithm::rsa_sha256, "PEM-OTHER")}, true);
  ASSERT_TRUE(nk.ok()) << nk.error().message;
  auto other_keys = s.domains.keys(f.other, "other.test", false).value();
  ASSERT_EQ(other_keys.size(), 1u);
  EXPECT_GT(other_keys[0].version, f.newest_version);
  OutboxItem it = f.outbox[0];
  ASSERT_TRUE(b->outbox->enqueue({it}, kNow + 100).ok());
  auto items = b->outbox->for_message(it.message_id).value();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_GT(items[1].id, f.outbox.back().id);
  // Events after the copy are counted once by the trigger again (it was only paused).
  DeliveryEvent e;
  e.time_ms = kNow + 10;
  e.queue_id = "QNEW";
  e.account_id = f.acme;
  e.recipient = "n@example.com";
  e.event = core::EventKind::delivered;
  const auto stats_before = pg_count(schema.url(), "delivery_events");
  ASSERT_TRUE(s.events.record({e}).ok());
  EXPECT_EQ(pg_count(schema.url(), "delivery_events"), stats_before + 1);
  auto c = pg::Conn::connect(schema.url());
  ASSERT_TRUE(c.ok());
  auto n =
      c->exec("SELECT COALESCE(SUM(n), 0) FROM stats_hourly WHERE event = 'delivered'", "stats");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->int64(0, 0), 3);  // two copied + one new
}

TEST(StoreCopy, ATargetWithRowsIsRefusedAndLeftAsItWas) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  fill(path);
  test::PgSchema schema;
  {
    auto b = open_backend(schema.url());
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(b->store->accounts.create("squatter").ok());
  }
  const auto before = dump_pg(schema.url());
  auto rep = copy_store("sqlite:" + path, schema.url());
  ASSERT_FALSE(rep.ok());
  EXPECT_TRUE(rep.error().is(core::ErrorCode::conflict)) << rep.error().message;
  EXPECT_NE(rep.error().message.find("already holds data"), std::string::npos);
  EXPECT_EQ(dump_pg(schema.url()), before);
  EXPECT_EQ(pg_count(schema.url(), "accounts"), 1);
}

TEST(StoreCopy, ABadValueMidwayRollsEverythingBack) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  fill(path);
  {  // SQLite keeps a text in an INTEGER column; PostgreSQL's bigint cannot.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE webhook_outbox SET attempts = 'many' WHERE id = 2", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  test::PgSchema schema;
  auto rep = copy_store("sqlite:" + path, schema.url());
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.error().message.find("webhook_outbox.attempts"), std::string::npos)
      << rep.error().message;
  for (const auto& [name, rows] : dump_pg(schema.url())) EXPECT_TRUE(rows.empty()) << name;
  // Triggers are on again (the ALTERs rolled back too): a new account logs a change.
  auto b = open_backend(schema.url());
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->store->accounts.create("later").ok());
  EXPECT_GT(pg_count(schema.url(), "change_log"), 0);
}

TEST(StoreCopy, SourcesThatAreNotAMigratedTernStoreAreRefused) {
  test::TempDir dir;
  test::PgSchema schema;
  // Missing: not created by the attempt.
  const std::string missing = dir.file("missing.db");
  auto r = copy_store("sqlite:" + missing, schema.url());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::not_found)) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(missing));
  // Not SQLite at all.
  const std::string junk = dir.file("junk.db");
  { std::ofstream(junk) << std::string(4096, 'x'); }
  r = copy_store("sqlite:" + junk, schema.url());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::corrupt)) << r.error().message;
  // SQLite, but not Tern's.
  const std::string other = dir.file("other.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  r = copy_store("sqlite:" + other, schema.url());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a Tern store"), std::string::npos) << r.error().message;
  // Tern's, at an older schema version.
  const std::string old = dir.file("old.db");
  fill(old);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(old.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(
            db,
            "DELETE FROM schema_version WHERE version = (SELECT MAX(version) FROM schema_version)",
            nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  r = copy_store("sqlite:" + old, schema.url());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("schema version"), std::string::npos) << r.error().message;
  // Nothing reached the target: not even the schema.
  auto c = pg::Conn::connect(schema.url());
  ASSERT_TRUE(c.ok());
  auto t = c->exec("SELECT to_regclass('accounts') IS NULL", "no tables");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->view(0, 0), "t");
}

TEST(StoreCopy, TheTargetPasswordNeverShows) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  fill(path);
  auto r = copy_store("sqlite:" + path, "postgres://tern:s3cret-pw@127.0.0.1:1/tern");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("s3cret-pw"), std::string::npos) << r.error().message;
  EXPECT_EQ(redact_store_url("postgres://tern:s3cret-pw@db.example:5432/tern?sslmode=require"),
            "postgres://tern:***@db.example:5432/tern?sslmode=require");
  EXPECT_EQ(redact_store_url("postgresql://tern@db/tern?password=s3cret-pw&sslmode=require"),
            "postgresql://tern@db/tern?password=***&sslmode=require");
  EXPECT_EQ(redact_store_url("postgres://db/tern"), "postgres://db/tern");
  EXPECT_EQ(redact_store_url("postgres://u:p%40ss@h1,h2/db"), "postgres://u:***@h1,h2/db");
}

}  // namespace
}  // namespace tern::store
