// Delivery data in the SQLite store: account settings (persisted rows, all-or-nothing batches,
// relay.password sealed at rest and never returned without secrets), the suppression list
// (add/refresh/list/remove/is_suppressed, account isolation), delivery events (round trip,
// order, batch atomicity, a timed 1000-event batch), and account_context() carrying the
// settings the submission service applies (mail_from, cc, bcc).
#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

using KV = std::vector<std::pair<std::string, std::string>>;

class DeliveryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tern.db");
    store_ = open();
    auto a = store_->create_account("acme");
    ASSERT_TRUE(a.ok()) << a.error().message;
    acme_ = a.value().account.id;
    auto b = store_->create_account("other");
    ASSERT_TRUE(b.ok()) << b.error().message;
    other_ = b.value().account.id;
  }
  std::unique_ptr<Store> open() {
    auto s = Store::open_sqlite(path_);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return std::move(s).value();
  }
  AccountSettings settings(int64_t acc, bool secrets = false) {
    auto r = store_->account_settings(acc, secrets);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : AccountSettings{};
  }
  void set(int64_t acc, KV kv) {
    auto r = store_->set_account_settings(acc, kv);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  // The settings rows as SQLite holds them, read through a separate connection.
  std::map<std::string, std::string> raw_rows(int64_t acc) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT key, value FROM settings WHERE account_id = ?", -1,
                                 &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, acc);
    std::map<std::string, std::string> out;
    while (sqlite3_step(st) == SQLITE_ROW)
      out[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
          std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
                      static_cast<size_t>(sqlite3_column_bytes(st, 1)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
  void raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  static std::string master_key() {
    std::string k(32, '\0');
    randombytes_buf(k.data(), k.size());
    return k;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  int64_t acme_ = 0, other_ = 0;
};

// --- settings ---

TEST_F(DeliveryStoreTest, DefaultsWhenNothingIsSet) {
  AccountSettings s = settings(acme_);
  EXPECT_EQ(s.route, "platform");
  EXPECT_EQ(s.relay_security, "starttls");
  EXPECT_TRUE(s.bounce_notices);
  EXPECT_FALSE(s.relay_password_set);
  EXPECT_TRUE(s.cc.empty());
  EXPECT_TRUE(raw_rows(acme_).empty());
}

TEST_F(DeliveryStoreTest, SettingsPersistAsRowsAndReopen) {
  set(acme_, {{"route", "custom"},
              {"relay.host", "Relay.Example.NET"},
              {"relay.port", "2525"},
              {"relay.security", "tls"},
              {"relay.username", "smtp-user"},
              {"mail_from", "Bounce@Example.com"},
              {"cc", "a@example.com,b@EXAMPLE.com,a@example.com"},
              {"bcc", "archive@example.org"},
              {"bounce_notices", "off"}});
  auto rows = raw_rows(acme_);
  EXPECT_EQ(rows, (std::map<std::string, std::string>{{"route", "custom"},
                                                      {"relay.host", "relay.example.net"},
                                                      {"relay.port", "2525"},
                                                      {"relay.security", "tls"},
                                                      {"relay.username", "smtp-user"},
                                                      {"mail_from", "Bounce@example.com"},
                                                      {"cc", "a@example.com,b@example.com"},
                                                      {"bcc", "archive@example.org"},
                                                      {"bounce_notices", "off"}}));
  store_.reset();
  store_ = open();
  AccountSettings s = settings(acme_);
  EXPECT_EQ(s.route, "custom");
  EXPECT_EQ(s.relay_host, "relay.example.net");
  EXPECT_EQ(s.relay_port, 2525);
  EXPECT_EQ(s.relay_security, "tls");
  EXPECT_EQ(s.relay_username, "smtp-user");
  EXPECT_EQ(s.mail_from, "Bounce@example.com");
  EXPECT_EQ(s.cc, (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_EQ(s.bcc, (std::vector<std::string>{"archive@example.org"}));
  EXPECT_FALSE(s.bounce_notices);
  // The other account is untouched.
  EXPECT_TRUE(raw_rows(other_).empty());
  EXPECT_EQ(settings(other_).route, "platform");
}

TEST_F(DeliveryStoreTest, LaterCallsMergeAndEmptyResets) {
  set(acme_, {{"relay.host", "relay.example.net"}, {"cc", "a@example.com"}});
  set(acme_, {{"route", "custom"}});  // relay.host from the earlier call satisfies validate()
  EXPECT_EQ(settings(acme_).route, "custom");
  EXPECT_EQ(settings(acme_).cc.size(), 1u);
  set(acme_, {{"cc", ""}, {"route", ""}});
  auto rows = raw_rows(acme_);
  EXPECT_EQ(rows.count("cc"), 0u);  // absent = default
  EXPECT_EQ(rows.count("route"), 0u);
  EXPECT_EQ(rows.at("relay.host"), "relay.example.net");
  // Within one call, order does not matter for validate(); the last pair of a key wins.
  set(acme_, {{"relay.host", ""}, {"route", "custom"}, {"relay.host", "b.example.net"}});
  EXPECT_EQ(settings(acme_).relay_host, "b.example.net");
}

TEST_F(DeliveryStoreTest, BadBatchChangesNothing) {
  set(acme_, {{"mail_from", "keep@example.com"}, {"relay.port", "2525"}});
  const auto before = raw_rows(acme_);
  struct Case {
    KV kv;
    std::string key;  // the key the error must name
  };
  const std::vector<Case> cases = {
      {{{"cc", "x@example.com"}, {"relay.port", "0"}}, "relay.port"},
      {{{"cc", "x@example.com"}, {"relay.port", "65536"}}, "relay.port"},
      {{{"bcc", "x@example.com"}, {"mail_from", "not an address"}}, "mail_from"},
      {{{"bounce_notices", "off"}, {"relay.username", "u\r\nQUIT"}}, "relay.username"},
      {{{"relay.password", "secret"}, {"relay.host", std::string("h\0st", 4)}}, "relay.host"},
      {{{"bounce_notices", "off"}, {"no.such.key", "1"}}, "no.such.key"},
      {{{"bounce_notices", "off"}, {"route", "custom"}}, "route"},  // custom without a host
  };
  for (const auto& c : cases) {
    auto r = store_->set_account_settings(acme_, c.kv);
    ASSERT_FALSE(r.ok()) << c.key;
    EXPECT_TRUE(r.error().message.starts_with(c.key + ":")) << r.error().message;
    EXPECT_EQ(raw_rows(acme_), before) << c.key;
  }
  EXPECT_FALSE(settings(acme_).relay_password_set);
}

TEST_F(DeliveryStoreTest, UnknownAccountIsAnError) {
  EXPECT_FALSE(store_->set_account_settings(9999, {{"cc", "a@example.com"}}).ok());
  EXPECT_FALSE(store_->account_settings(9999, false).ok());
}

TEST_F(DeliveryStoreTest, RowsOfOtherSubjectsAreIgnored) {
  raw_exec("INSERT INTO settings(account_id, key, value) VALUES(" + std::to_string(acme_) +
           ", 'defaults.notify_url', 'https://example.com/hook')");
  set(acme_, {{"cc", "a@example.com"}});
  EXPECT_EQ(settings(acme_).cc.size(), 1u);
  EXPECT_EQ(raw_rows(acme_).at("defaults.notify_url"), "https://example.com/hook");
}

TEST_F(DeliveryStoreTest, DamagedStoredSettingIsReportedNotUsed) {
  raw_exec("INSERT INTO settings(account_id, key, value) VALUES(" + std::to_string(acme_) +
           ", 'relay.port', '70000')");
  auto r = store_->account_settings(acme_, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("relay.port"), std::string::npos) << r.error().message;
}

TEST_F(DeliveryStoreTest, PasswordPlainWithoutMasterKeyNeverReturnedWithoutSecrets) {
  set(acme_, {{"relay.username", "u"}, {"relay.password", "pl@in-Secret"}});
  EXPECT_EQ(raw_rows(acme_).at("relay.password"), "pl@in-Secret");  // the file is 0600
  AccountSettings s = settings(acme_, false);
  EXPECT_TRUE(s.relay_password_set);
  EXPECT_EQ(s.relay_password, "");
  EXPECT_EQ(settings(acme_, true).relay_password, "pl@in-Secret");
}

TEST_F(DeliveryStoreTest, PasswordSealedAtRestWithMasterKey) {
  const std::string master = master_key();
  store_->set_master_key(master);
  set(acme_, {{"relay.password", "Sealed-Secret"}});
  const std::string raw = raw_rows(acme_).at("relay.password");
  EXPECT_TRUE(raw.starts_with("sbx1:")) << raw;
  EXPECT_EQ(raw.find("Sealed-Secret"), std::string::npos);
  AccountSettings without = settings(acme_, false);
  EXPECT_TRUE(without.relay_password_set);
  EXPECT_EQ(without.relay_password, "");
  EXPECT_EQ(settings(acme_, true).relay_password, "Sealed-Secret");

  // Changing other keys keeps the sealed password as it was (not re-read, not re-sealed).
  set(acme_, {{"cc", "a@example.com"}});
  EXPECT_EQ(raw_rows(acme_).at("relay.password"), raw);

  // Another process without the master key: flags work, secrets are an error (never garbage).
  auto other = open();
  auto s = other->account_settings(acme_, false);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s.value().relay_password_set);
  EXPECT_FALSE(other->account_settings(acme_, true).ok());
  other->set_master_key(master_key());  // a wrong key
  EXPECT_FALSE(other->account_settings(acme_, true).ok());

  // Reset removes the row.
  set(acme_, {{"relay.password", ""}});
  EXPECT_EQ(raw_rows(acme_).count("relay.password"), 0u);
  EXPECT_FALSE(settings(acme_).relay_password_set);
}

TEST_F(DeliveryStoreTest, WebhookSecretSealedAndSeparateFromRelayPassword) {
  store_->set_master_key(master_key());
  set(acme_, {{"webhook_secret", "whsec-0123456789abcdef"}, {"relay.password", "relay-pw"}});
  const auto rows = raw_rows(acme_);
  EXPECT_TRUE(rows.at("webhook_secret").starts_with("sbx1:"));
  EXPECT_EQ(rows.at("webhook_secret").find("whsec"), std::string::npos);
  AccountSettings without = settings(acme_, false);
  EXPECT_TRUE(without.webhook_secret_set);
  EXPECT_EQ(without.webhook_secret, "");
  AccountSettings with = settings(acme_, true);
  EXPECT_EQ(with.webhook_secret, "whsec-0123456789abcdef");
  EXPECT_EQ(with.relay_password, "relay-pw");
  set(acme_, {{"notify_url", "https://hooks.example.com/r"}});  // other keys keep the secret
  EXPECT_EQ(raw_rows(acme_).at("webhook_secret"), rows.at("webhook_secret"));
}

// Issue 14: a rotation keeps the replaced secret (sealed like it) and when it was replaced, so
// the sender can sign with both during the grace period; the same secret again is no rotation;
// removing the secret drops the old one too.
TEST_F(DeliveryStoreTest, WebhookSecretRotationKeepsThePreviousSecret) {
  store_->set_master_key(master_key());
  set(acme_, {{"webhook_secret", "whsec-first-0123456789"}});
  auto first = settings(acme_, true);
  EXPECT_EQ(first.webhook_secret_previous, "");  // nothing replaced
  EXPECT_GT(first.webhook_secret_changed_ms, 0);

  set(acme_, {{"webhook_secret", "whsec-second-0123456789"}});
  auto second = settings(acme_, true);
  EXPECT_EQ(second.webhook_secret, "whsec-second-0123456789");
  EXPECT_EQ(second.webhook_secret_previous, "whsec-first-0123456789");
  EXPECT_GE(second.webhook_secret_changed_ms, first.webhook_secret_changed_ms);
  auto rows = raw_rows(acme_);
  EXPECT_TRUE(rows.at("webhook_secret.previous").starts_with("sbx1:"));  // sealed at rest
  EXPECT_EQ(settings(acme_, false).webhook_secret_previous, "");         // never without secrets

  set(acme_, {{"webhook_secret", "whsec-second-0123456789"}, {"notify_url", ""}});
  EXPECT_EQ(settings(acme_, true).webhook_secret_previous, "whsec-first-0123456789");

  set(acme_, {{"webhook_secret", ""}});
  auto removed = settings(acme_, true);
  EXPECT_FALSE(removed.webhook_secret_set);
  EXPECT_EQ(removed.webhook_secret_previous, "");
  EXPECT_EQ(raw_rows(acme_).count("webhook_secret.previous"), 0u);
  // Other keys' changes never touch the rotation rows.
  set(acme_, {{"notify_url", "https://hooks.example.com/x"}});
  EXPECT_EQ(settings(acme_, true).webhook_secret_previous, "");
}

TEST_F(DeliveryStoreTest, AccountContextCarriesReportDefaults) {
  set(acme_, {{"notify_url", "https://hooks.example.com/r"},
              {"tracking_url", "https://hooks.example.com/t"},
              {"report_format", "xml"},
              {"intermediate_report", "on"}});
  auto ctx = store_->account_context(acme_);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  EXPECT_EQ(ctx->defaults.notify_url, "https://hooks.example.com/r");
  EXPECT_EQ(ctx->defaults.tracking_url, "https://hooks.example.com/t");
  EXPECT_EQ(ctx->defaults.notify_content_type, "application/xml");
  EXPECT_TRUE(ctx->defaults.intermediate_report);
}

TEST_F(DeliveryStoreTest, AccountContextCarriesDeliverySettings) {
  set(acme_, {{"mail_from", "bounces@Example.com"},
              {"cc", "copy1@example.com, copy2@example.com"},
              {"bcc", "archive@example.org"}});
  auto ctx = store_->account_context(acme_);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  EXPECT_EQ(ctx->mail_from, "bounces@example.com");
  EXPECT_EQ(ctx->cc, (std::vector<std::string>{"copy1@example.com", "copy2@example.com"}));
  EXPECT_EQ(ctx->bcc, (std::vector<std::string>{"archive@example.org"}));
  auto o = store_->account_context(other_);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->mail_from, "");
  EXPECT_TRUE(o->cc.empty());
  EXPECT_TRUE(o->bcc.empty());
  // A sealed password without the master key does not stop the context from loading.
  store_->set_master_key(master_key());
  set(acme_, {{"relay.password", "x"}});
  auto other = open();
  EXPECT_TRUE(other->account_context(acme_).ok());
}

// --- suppression list ---

TEST_F(DeliveryStoreTest, SuppressionAddRefreshListRemove) {
  ASSERT_TRUE(store_
                  ->add_suppression({acme_, "gone@Example.COM",
                                     "550 5.1.1 no such user (mx.example.com)", "Q1", 1000})
                  .ok());
  ASSERT_TRUE(
      store_->add_suppression({acme_, "full@example.net", "552 5.2.2 full", "Q2", 2000}).ok());
  auto list = store_->list_suppressions(acme_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(0).address, "full@example.net");  // newest first
  EXPECT_EQ(list->at(1).address, "gone@example.com");  // domain lower-cased
  EXPECT_EQ(list->at(1).reason, "550 5.1.1 no such user (mx.example.com)");
  EXPECT_EQ(list->at(1).queue_id, "Q1");
  EXPECT_EQ(list->at(1).created_ms, 1000);

  // Same address again (domain in another case): refreshed, not duplicated.
  ASSERT_TRUE(
      store_->add_suppression({acme_, "gone@EXAMPLE.com", "550 5.1.1 still gone", "Q3", 3000})
          .ok());
  list = store_->list_suppressions(acme_);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(0).address, "gone@example.com");
  EXPECT_EQ(list->at(0).reason, "550 5.1.1 still gone");
  EXPECT_EQ(list->at(0).queue_id, "Q3");
  EXPECT_EQ(list->at(0).created_ms, 3000);

  EXPECT_TRUE(store_->is_suppressed(acme_, "gone@example.com").value());
  EXPECT_TRUE(store_->is_suppressed(acme_, "gone@Example.Com").value());
  EXPECT_FALSE(store_->is_suppressed(acme_, "Gone@example.com").value());  // local part differs
  EXPECT_FALSE(store_->is_suppressed(acme_, "nobody@example.com").value());
  EXPECT_FALSE(store_->is_suppressed(acme_, "not an address").value());

  EXPECT_FALSE(store_->remove_suppression(acme_, "GONE@example.com").ok());  // local part differs
  auto r = store_->remove_suppression(acme_, "gone@EXAMPLE.COM");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(store_->is_suppressed(acme_, "gone@example.com").value());
  auto again = store_->remove_suppression(acme_, "gone@example.com");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("not on"), std::string::npos) << again.error().message;
  EXPECT_FALSE(store_->remove_suppression(acme_, "bad address\r\n").ok());
  EXPECT_EQ(store_->list_suppressions(acme_)->size(), 1u);
}

TEST_F(DeliveryStoreTest, SuppressionCreatedNowWhenNotGiven) {
  ASSERT_TRUE(store_->add_suppression({acme_, "x@example.com", "r", "Q", 0}).ok());
  auto list = store_->list_suppressions(acme_);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_GT(list->at(0).created_ms, 1'600'000'000'000);
}

TEST_F(DeliveryStoreTest, SuppressionRejectsBadInput) {
  EXPECT_FALSE(store_->add_suppression({acme_, "no-at-sign", "r", "Q", 1}).ok());
  EXPECT_FALSE(store_->add_suppression({acme_, "a@b\r\n.com", "r", "Q", 1}).ok());
  EXPECT_FALSE(store_->add_suppression({acme_, "", "r", "Q", 1}).ok());
  EXPECT_FALSE(store_->add_suppression({9999, "a@example.com", "r", "Q", 1}).ok());
  EXPECT_TRUE(store_->list_suppressions(acme_)->empty());
}

TEST_F(DeliveryStoreTest, SuppressionsAreIsolatedPerAccount) {
  ASSERT_TRUE(store_->add_suppression({acme_, "shared@example.com", "acme's", "Q1", 1}).ok());
  EXPECT_FALSE(store_->is_suppressed(other_, "shared@example.com").value());
  EXPECT_TRUE(store_->list_suppressions(other_)->empty());
  EXPECT_FALSE(store_->remove_suppression(other_, "shared@example.com").ok());
  EXPECT_TRUE(store_->is_suppressed(acme_, "shared@example.com").value());
  ASSERT_TRUE(store_->add_suppression({other_, "shared@example.com", "other's", "Q2", 2}).ok());
  EXPECT_EQ(store_->list_suppressions(acme_)->at(0).reason, "acme's");
  ASSERT_TRUE(store_->remove_suppression(other_, "shared@example.com").ok());
  EXPECT_TRUE(store_->is_suppressed(acme_, "shared@example.com").value());
}

// --- delivery events ---

Store::DeliveryEvent event(int64_t t, const std::string& q, int64_t acc, const std::string& rcpt,
                           const std::string& kind, int attempt) {
  Store::DeliveryEvent e;
  e.time_ms = t;
  e.queue_id = q;
  e.account_id = acc;
  e.recipient = rcpt;
  e.event = kind;
  e.attempt = attempt;
  return e;
}

TEST_F(DeliveryStoreTest, EventsRoundTripInOrder) {
  auto d = event(3000, "Q1", acme_, "a@example.com", "delivered", 2);
  d.code = 250;
  d.enhanced = "2.0.0";
  d.reply = "ok: queued as 123";
  d.mx_host = "mx1.example.com";
  d.tls = true;
  auto f = event(1000, "Q1", acme_, "a@example.com", "deferred", 1);
  f.code = 451;
  f.enhanced = "4.7.1";
  f.reply = "try later";
  f.mx_host = "mx2.example.com";
  f.phase = "rcpt";
  // Recorded out of time order and in two batches, with another message's event between.
  ASSERT_TRUE(
      store_->record_events({d, event(2000, "Q2", other_, "z@example.org", "bounced", 1)}).ok());
  ASSERT_TRUE(
      store_->record_events({f, event(3000, "Q1", acme_, "b@example.com", "bounced", 1)}).ok());
  auto ev = store_->events_for("Q1");
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  ASSERT_EQ(ev->size(), 3u);
  const auto& e0 = ev->at(0);
  EXPECT_EQ(e0.time_ms, 1000);
  EXPECT_EQ(e0.event, "deferred");
  EXPECT_EQ(e0.code, 451);
  EXPECT_EQ(e0.enhanced, "4.7.1");
  EXPECT_EQ(e0.reply, "try later");
  EXPECT_EQ(e0.mx_host, "mx2.example.com");
  EXPECT_EQ(e0.phase, "rcpt");
  EXPECT_FALSE(e0.tls);
  EXPECT_EQ(e0.attempt, 1);
  const auto& e1 = ev->at(1);  // same time as e2: recording order decides
  EXPECT_EQ(e1.time_ms, 3000);
  EXPECT_EQ(e1.queue_id, "Q1");
  EXPECT_EQ(e1.account_id, acme_);
  EXPECT_EQ(e1.recipient, "a@example.com");
  EXPECT_EQ(e1.event, "delivered");
  EXPECT_EQ(e1.attempt, 2);
  EXPECT_EQ(e1.code, 250);
  EXPECT_EQ(e1.enhanced, "2.0.0");
  EXPECT_EQ(e1.reply, "ok: queued as 123");
  EXPECT_EQ(e1.mx_host, "mx1.example.com");
  EXPECT_TRUE(e1.tls);
  EXPECT_EQ(ev->at(2).recipient, "b@example.com");
  EXPECT_EQ(store_->events_for("Q2")->size(), 1u);
  EXPECT_TRUE(store_->events_for("nope")->empty());
  EXPECT_TRUE(store_->record_events({}).ok());
}

TEST_F(DeliveryStoreTest, EventBatchIsAllOrNothing) {
  auto bad = event(1, "Q9", acme_, "a@example.com", "exploded", 1);
  auto r = store_->record_events({event(1, "Q9", acme_, "a@example.com", "delivered", 1), bad});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("exploded"), std::string::npos);
  EXPECT_TRUE(store_->events_for("Q9")->empty());
}

TEST_F(DeliveryStoreTest, ThousandEventBatch) {
  std::vector<Store::DeliveryEvent> batch;
  for (int i = 0; i < 1000; ++i) {
    auto e = event(100000 + i, "Q" + std::to_string(i % 50), acme_,
                   "r" + std::to_string(i) + "@example.com", i % 3 ? "delivered" : "deferred", 1);
    e.code = i % 3 ? 250 : 451;
    e.reply = "reply text of a typical length for an SMTP server answer";
    e.mx_host = "mx.example.com";
    batch.push_back(std::move(e));
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = store_->record_events(batch);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::printf("[   INFO   ] record_events: 1000 events in one batch took %.2f ms\n", us / 1000.0);
  auto q7 = store_->events_for("Q7");
  ASSERT_TRUE(q7.ok());
  ASSERT_EQ(q7->size(), 20u);
  for (size_t i = 1; i < q7->size(); ++i) EXPECT_LT(q7->at(i - 1).time_ms, q7->at(i).time_ms);
  EXPECT_EQ(q7->front().recipient, "r7@example.com");
}

}  // namespace
}  // namespace tern::store
