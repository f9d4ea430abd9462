// Conformance (conformance.hpp): delivery data on every backend: account settings (stored as
// rows, merged, all-or-nothing batches, secrets sealed and never returned without asking), the
// suppression list (case rules, order, isolation, batched look-up), delivery events (order with
// tie-breakers, atomic batches), registered senders and their verification links.
#include <chrono>
#include <cstdio>
#include <map>

#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

template <class B>
class DeliveryConformance : public Conformance<B> {
 protected:
  void SetUp() override {
    Conformance<B>::SetUp();
    acme_ = this->account("acme");
    other_ = this->account("other");
  }
  AccountSettings settings(int64_t acc, bool secrets = false) {
    auto r = this->store_->settings.get(acc, secrets);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : AccountSettings{};
  }
  void set(int64_t acc, KV kv) {
    auto r = this->store_->settings.set(acc, kv);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  // The settings rows as the backend holds them.
  std::map<std::string, std::string> rows(int64_t acc) {
    auto r = this->in(Database::Mode::read, [&](Tx& tx) { return tx.settings().rows(acc); });
    EXPECT_TRUE(r.ok());
    std::map<std::string, std::string> out;
    for (auto& [k, v] : r.value()) out[k] = v;
    return out;
  }
  void put_row(int64_t acc, const std::string& key, const std::string& value) {
    auto r =
        this->in(Database::Mode::write, [&](Tx& tx) { return tx.settings().put(acc, key, value); });
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  SuppressionService& sup() { return this->store_->suppressions; }
  int64_t acme_ = 0, other_ = 0;
};
TYPED_TEST_SUITE(DeliveryConformance, Backends, BackendNames);

// --- settings ---

TYPED_TEST(DeliveryConformance, SettingsDefaultsWhenNothingIsSet) {
  AccountSettings s = this->settings(this->acme_);
  EXPECT_EQ(s.route, Route::platform);
  EXPECT_EQ(s.relay_security, RelaySecurity::starttls);
  EXPECT_TRUE(s.bounce_notices);
  EXPECT_FALSE(s.relay_password_set);
  EXPECT_TRUE(s.cc.empty());
  EXPECT_TRUE(this->rows(this->acme_).empty());
}

TYPED_TEST(DeliveryConformance, SettingsPersistAsNormalisedRows) {
  this->set(this->acme_, {{"route", "custom"},
                          {"relay.host", "Relay.Example.NET"},
                          {"relay.port", "2525"},
                          {"relay.security", "tls"},
                          {"relay.username", "smtp-user"},
                          {"mail_from", "Bounce@Example.com"},
                          {"cc", "a@example.com,b@EXAMPLE.com,a@example.com"},
                          {"bcc", "archive@example.org"},
                          {"bounce_notices", "off"}});
  EXPECT_EQ(this->rows(this->acme_),
            (std::map<std::string, std::string>{{"route", "custom"},
                                                {"relay.host", "relay.example.net"},
                                                {"relay.port", "2525"},
                                                {"relay.security", "tls"},
                                                {"relay.username", "smtp-user"},
                                                {"mail_from", "Bounce@example.com"},
                                                {"cc", "a@example.com,b@example.com"},
                                                {"bcc", "archive@example.org"},
                                                {"bounce_notices", "off"}}));
  // Another instance reads the same.
  Backend again = this->open_again();
  AccountSettings s = again.store->settings.get(this->acme_, false).value();
  EXPECT_EQ(s.route, Route::custom);
  EXPECT_EQ(s.relay_host, "relay.example.net");
  EXPECT_EQ(s.relay_port, 2525);
  EXPECT_EQ(s.relay_security, RelaySecurity::tls);
  EXPECT_EQ(s.relay_username, "smtp-user");
  EXPECT_EQ(s.mail_from, "Bounce@example.com");
  EXPECT_EQ(s.cc, (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_EQ(s.bcc, (std::vector<std::string>{"archive@example.org"}));
  EXPECT_FALSE(s.bounce_notices);
  // The other account is untouched.
  EXPECT_TRUE(this->rows(this->other_).empty());
  EXPECT_EQ(this->settings(this->other_).route, Route::platform);
}

TYPED_TEST(DeliveryConformance, LaterCallsMergeAndEmptyResets) {
  this->set(this->acme_, {{"relay.host", "relay.example.net"}, {"cc", "a@example.com"}});
  this->set(this->acme_, {{"route", "custom"}});  // relay.host from before satisfies validate()
  EXPECT_EQ(this->settings(this->acme_).route, Route::custom);
  EXPECT_EQ(this->settings(this->acme_).cc.size(), 1u);
  this->set(this->acme_, {{"cc", ""}, {"route", ""}});
  auto rows = this->rows(this->acme_);
  EXPECT_EQ(rows.count("cc"), 0u);  // absent = default
  EXPECT_EQ(rows.count("route"), 0u);
  EXPECT_EQ(rows.at("relay.host"), "relay.example.net");
  // Within one call, order does not matter for validate(); the last pair of a key wins.
  this->set(this->acme_,
            {{"relay.host", ""}, {"route", "custom"}, {"relay.host", "b.example.net"}});
  EXPECT_EQ(this->settings(this->acme_).relay_host, "b.example.net");
}

TYPED_TEST(DeliveryConformance, BadBatchChangesNothing) {
  this->set(this->acme_, {{"mail_from", "keep@example.com"}, {"relay.port", "2525"}});
  const auto before = this->rows(this->acme_);
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
    auto r = this->store_->settings.set(this->acme_, c.kv);
    ASSERT_FALSE(r.ok()) << c.key;
    EXPECT_TRUE(r.error().is(core::ErrorCode::invalid));
    EXPECT_TRUE(r.error().message.starts_with(c.key + ":")) << r.error().message;
    EXPECT_EQ(this->rows(this->acme_), before) << c.key;
  }
  EXPECT_FALSE(this->settings(this->acme_).relay_password_set);
}

TYPED_TEST(DeliveryConformance, SettingsOfAnUnknownAccountAreNotFound) {
  EXPECT_TRUE(this->store_->settings.set(9999, {{"cc", "a@example.com"}})
                  .error()
                  .is(core::ErrorCode::not_found));
  EXPECT_TRUE(this->store_->settings.get(9999, false).error().is(core::ErrorCode::not_found));
}

TYPED_TEST(DeliveryConformance, RowsOfOtherSubjectsAreKeptAndIgnored) {
  this->put_row(this->acme_, "defaults.notify_url", "https://example.com/hook");
  this->set(this->acme_, {{"cc", "a@example.com"}});
  EXPECT_EQ(this->settings(this->acme_).cc.size(), 1u);
  EXPECT_EQ(this->rows(this->acme_).at("defaults.notify_url"), "https://example.com/hook");
}

TYPED_TEST(DeliveryConformance, DamagedStoredSettingIsReportedNotUsed) {
  this->put_row(this->acme_, "relay.port", "70000");
  auto r = this->store_->settings.get(this->acme_, false);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::corrupt));
  EXPECT_NE(r.error().message.find("relay.port"), std::string::npos) << r.error().message;
}

TYPED_TEST(DeliveryConformance, PasswordPlainWithoutMasterKeyNeverReturnedWithoutSecrets) {
  this->set(this->acme_, {{"relay.username", "u"}, {"relay.password", "pl@in-Secret"}});
  EXPECT_EQ(this->rows(this->acme_).at("relay.password"), "pl@in-Secret");
  AccountSettings s = this->settings(this->acme_, false);
  EXPECT_TRUE(s.relay_password_set);
  EXPECT_EQ(s.relay_password, "");
  EXPECT_EQ(this->settings(this->acme_, true).relay_password, "pl@in-Secret");
}

TYPED_TEST(DeliveryConformance, PasswordSealedAtRestWithMasterKey) {
  const std::string master = this->master_key();
  this->store_->set_master_key(master);
  this->set(this->acme_, {{"relay.password", "Sealed-Secret"}});
  const std::string raw = this->rows(this->acme_).at("relay.password");
  EXPECT_TRUE(raw.starts_with("sbx1:")) << raw;
  EXPECT_EQ(raw.find("Sealed-Secret"), std::string::npos);
  AccountSettings without = this->settings(this->acme_, false);
  EXPECT_TRUE(without.relay_password_set);
  EXPECT_EQ(without.relay_password, "");
  EXPECT_EQ(this->settings(this->acme_, true).relay_password, "Sealed-Secret");

  // Changing other keys keeps the sealed password as it was (not re-read, not re-sealed).
  this->set(this->acme_, {{"cc", "a@example.com"}});
  EXPECT_EQ(this->rows(this->acme_).at("relay.password"), raw);

  // Another instance without the master key: flags work, secrets are an error (never garbage).
  Backend other = this->open_again();
  auto s = other.store->settings.get(this->acme_, false);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s.value().relay_password_set);
  EXPECT_FALSE(other.store->settings.get(this->acme_, true).ok());
  other.store->set_master_key(this->master_key());  // a wrong key
  EXPECT_FALSE(other.store->settings.get(this->acme_, true).ok());
  // ...and the context, which needs no secret, still loads.
  EXPECT_TRUE(other.store->account_context(this->acme_).ok());

  // Reset removes the row.
  this->set(this->acme_, {{"relay.password", ""}});
  EXPECT_EQ(this->rows(this->acme_).count("relay.password"), 0u);
  EXPECT_FALSE(this->settings(this->acme_).relay_password_set);
}

TYPED_TEST(DeliveryConformance, WebhookSecretSealedAndSeparateFromRelayPassword) {
  this->store_->set_master_key(this->master_key());
  this->set(this->acme_,
            {{"webhook_secret", "whsec-0123456789abcdef"}, {"relay.password", "relay-pw"}});
  const auto rows = this->rows(this->acme_);
  EXPECT_TRUE(rows.at("webhook_secret").starts_with("sbx1:"));
  EXPECT_EQ(rows.at("webhook_secret").find("whsec"), std::string::npos);
  AccountSettings without = this->settings(this->acme_, false);
  EXPECT_TRUE(without.webhook_secret_set);
  EXPECT_EQ(without.webhook_secret, "");
  AccountSettings with = this->settings(this->acme_, true);
  EXPECT_EQ(with.webhook_secret, "whsec-0123456789abcdef");
  EXPECT_EQ(with.relay_password, "relay-pw");
  this->set(this->acme_, {{"notify_url", "https://hooks.example.com/r"}});  // secret kept
  EXPECT_EQ(this->rows(this->acme_).at("webhook_secret"), rows.at("webhook_secret"));
}

// Issue 14: a rotation keeps the replaced secret (sealed like it) and when it was replaced, so
// the sender can sign with both during the grace window; the same secret again is no rotation;
// removing the secret drops the old one too; other keys never touch the rotation rows.
TYPED_TEST(DeliveryConformance, WebhookSecretRotationKeepsThePreviousSecret) {
  this->store_->set_master_key(this->master_key());
  const int64_t t0 = this->clock_.now_ms();
  this->set(this->acme_, {{"webhook_secret", "whsec-first-0123456789"}});
  AccountSettings first = this->settings(this->acme_, true);
  EXPECT_EQ(first.webhook_secret_previous, "");  // nothing replaced
  EXPECT_EQ(first.webhook_secret_changed_ms, t0);

  this->clock_.advance_ms(5000);
  this->set(this->acme_, {{"webhook_secret", "whsec-second-0123456789"}});
  AccountSettings second = this->settings(this->acme_, true);
  EXPECT_EQ(second.webhook_secret, "whsec-second-0123456789");
  EXPECT_EQ(second.webhook_secret_previous, "whsec-first-0123456789");
  EXPECT_EQ(second.webhook_secret_changed_ms, t0 + 5000);
  EXPECT_TRUE(this->rows(this->acme_).at("webhook_secret.previous").starts_with("sbx1:"));
  AccountSettings without = this->settings(this->acme_, false);
  EXPECT_EQ(without.webhook_secret_previous, "");  // never without secrets
  EXPECT_EQ(without.webhook_secret_changed_ms, t0 + 5000);

  // The same secret again: no rotation (previous and time kept).
  this->clock_.advance_ms(5000);
  this->set(this->acme_, {{"webhook_secret", "whsec-second-0123456789"}, {"notify_url", ""}});
  AccountSettings again = this->settings(this->acme_, true);
  EXPECT_EQ(again.webhook_secret_previous, "whsec-first-0123456789");
  EXPECT_EQ(again.webhook_secret_changed_ms, t0 + 5000);

  this->set(this->acme_, {{"webhook_secret", ""}});
  AccountSettings removed = this->settings(this->acme_, true);
  EXPECT_FALSE(removed.webhook_secret_set);
  EXPECT_EQ(removed.webhook_secret_previous, "");
  EXPECT_EQ(this->rows(this->acme_).count("webhook_secret.previous"), 0u);
  this->set(this->acme_, {{"notify_url", "https://hooks.example.com/x"}});
  EXPECT_EQ(this->settings(this->acme_, true).webhook_secret_previous, "");
}

TYPED_TEST(DeliveryConformance, CorruptRotationTimeIsCorrupt) {
  this->put_row(this->acme_, "webhook_secret.changed_ms", "1e10");
  auto r = this->store_->settings.get(this->acme_, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::corrupt);
}

// --- suppression list ---

TYPED_TEST(DeliveryConformance, SuppressionAddRefreshListRemove) {
  auto& s = this->sup();
  ASSERT_TRUE(s.add({this->acme_, "gone@Example.COM", "550 5.1.1 no such user (mx.example.com)",
                     "Q1", 1000})
                  .ok());
  ASSERT_TRUE(s.add({this->acme_, "full@example.net", "552 5.2.2 full", "Q2", 2000}).ok());
  auto list = s.list(this->acme_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(0).address, "full@example.net");  // newest first
  EXPECT_EQ(list->at(1).address, "gone@example.com");  // domain lower-cased
  EXPECT_EQ(list->at(1).reason, "550 5.1.1 no such user (mx.example.com)");
  EXPECT_EQ(list->at(1).queue_id, "Q1");
  EXPECT_EQ(list->at(1).created_ms, 1000);

  // Same address again (domain in another case): refreshed, not duplicated.
  ASSERT_TRUE(s.add({this->acme_, "gone@EXAMPLE.com", "550 5.1.1 still gone", "Q3", 3000}).ok());
  list = s.list(this->acme_);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(0).address, "gone@example.com");
  EXPECT_EQ(list->at(0).reason, "550 5.1.1 still gone");
  EXPECT_EQ(list->at(0).queue_id, "Q3");
  EXPECT_EQ(list->at(0).created_ms, 3000);

  EXPECT_TRUE(s.contains(this->acme_, "gone@example.com").value());
  EXPECT_TRUE(s.contains(this->acme_, "gone@Example.Com").value());
  EXPECT_FALSE(s.contains(this->acme_, "Gone@example.com").value());  // local part differs
  EXPECT_FALSE(s.contains(this->acme_, "nobody@example.com").value());
  EXPECT_FALSE(s.contains(this->acme_, "not an address").value());

  EXPECT_TRUE(s.remove(this->acme_, "GONE@example.com").error().is(core::ErrorCode::not_found));
  auto r = s.remove(this->acme_, "gone@EXAMPLE.COM");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(s.contains(this->acme_, "gone@example.com").value());
  auto again = s.remove(this->acme_, "gone@example.com");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "gone@example.com is not on the account's suppression list");
  EXPECT_TRUE(s.remove(this->acme_, "bad address\r\n").error().is(core::ErrorCode::invalid));
  EXPECT_EQ(s.list(this->acme_)->size(), 1u);
}

TYPED_TEST(DeliveryConformance, SuppressionsOfOneTimeAreOrderedByAddress) {
  auto& s = this->sup();
  for (const char* a : {"c@x.test", "a@x.test", "b@x.test"})
    ASSERT_TRUE(s.add({this->acme_, a, "r", "Q", 500}).ok());
  ASSERT_TRUE(s.add({this->acme_, "z@x.test", "r", "Q", 400}).ok());
  auto list = s.list(this->acme_).value();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].address, "a@x.test");
  EXPECT_EQ(list[1].address, "b@x.test");
  EXPECT_EQ(list[2].address, "c@x.test");
  EXPECT_EQ(list[3].address, "z@x.test");
}

TYPED_TEST(DeliveryConformance, SuppressionCreatedNowWhenNotGiven) {
  ASSERT_TRUE(this->sup().add({this->acme_, "x@example.com", "r", "Q", 0}).ok());
  auto list = this->sup().list(this->acme_);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->at(0).created_ms, this->clock_.now_ms());
}

TYPED_TEST(DeliveryConformance, SuppressionRejectsBadInput) {
  auto& s = this->sup();
  EXPECT_TRUE(s.add({this->acme_, "no-at-sign", "r", "Q", 1}).error().is(core::ErrorCode::invalid));
  EXPECT_FALSE(s.add({this->acme_, "a@b\r\n.com", "r", "Q", 1}).ok());
  EXPECT_FALSE(s.add({this->acme_, "", "r", "Q", 1}).ok());
  EXPECT_TRUE(s.add({9999, "a@example.com", "r", "Q", 1}).error().is(core::ErrorCode::not_found));
  EXPECT_TRUE(s.list(this->acme_)->empty());
}

TYPED_TEST(DeliveryConformance, SuppressionsAreIsolatedPerAccount) {
  auto& s = this->sup();
  ASSERT_TRUE(s.add({this->acme_, "shared@example.com", "acme's", "Q1", 1}).ok());
  EXPECT_FALSE(s.contains(this->other_, "shared@example.com").value());
  EXPECT_TRUE(s.list(this->other_)->empty());
  EXPECT_FALSE(s.remove(this->other_, "shared@example.com").ok());
  EXPECT_TRUE(s.contains(this->acme_, "shared@example.com").value());
  ASSERT_TRUE(s.add({this->other_, "shared@example.com", "other's", "Q2", 2}).ok());
  EXPECT_EQ(s.list(this->acme_)->at(0).reason, "acme's");
  ASSERT_TRUE(s.remove(this->other_, "shared@example.com").ok());
  EXPECT_TRUE(s.contains(this->acme_, "shared@example.com").value());
}

TYPED_TEST(DeliveryConformance, SuppressionLookUpForAWholeMessage) {
  auto& s = this->sup();
  ASSERT_TRUE(s.add({this->acme_, "gone@example.com", "r", "Q", 1}).ok());
  ASSERT_TRUE(s.add({this->acme_, "dead@example.org", "r", "Q", 1}).ok());
  ASSERT_TRUE(s.add({this->other_, "live@example.com", "r", "Q", 1}).ok());
  auto hit = s.listed(this->acme_, {"live@example.com", "dead@EXAMPLE.org", "not an address",
                                    "gone@example.com", "Gone@example.com", "gone@example.com"});
  ASSERT_TRUE(hit.ok()) << hit.error().message;
  // As given, in the order given; a repeated address each time it was given.
  EXPECT_EQ(hit.value(),
            (std::vector<std::string>{"dead@EXAMPLE.org", "gone@example.com", "gone@example.com"}));
  EXPECT_TRUE(s.listed(this->acme_, {}).value().empty());
}

// --- delivery events ---

TYPED_TEST(DeliveryConformance, EventsRoundTripInTimeThenRecordingOrder) {
  using K = core::EventKind;
  auto& log = this->store_->events;
  auto d = event(3000, "Q1", this->acme_, "a@example.com", K::delivered, 2);
  d.code = 250;
  d.enhanced = "2.0.0";
  d.reply = "ok: queued as 123";
  d.mx_host = "mx1.example.com";
  d.tls = true;
  d.phase = core::Phase::data_end;
  auto f = event(1000, "Q1", this->acme_, "a@example.com", K::deferred, 1);
  f.code = 451;
  f.enhanced = "4.7.1";
  f.reply = "try later";
  f.mx_host = "mx2.example.com";
  f.phase = core::Phase::rcpt;
  // Recorded out of time order and in two batches, with another message's event between.
  ASSERT_TRUE(
      log.record({d, event(2000, "Q2", this->other_, "z@example.org", K::bounced, 1)}).ok());
  ASSERT_TRUE(log.record({f, event(3000, "Q1", this->acme_, "b@example.com", K::bounced, 1)}).ok());
  auto ev = log.for_queue("Q1");
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  ASSERT_EQ(ev->size(), 3u);
  const auto& e0 = ev->at(0);
  EXPECT_EQ(e0.time_ms, 1000);
  EXPECT_EQ(e0.event, K::deferred);
  EXPECT_EQ(e0.code, 451);
  EXPECT_EQ(e0.enhanced, "4.7.1");
  EXPECT_EQ(e0.reply, "try later");
  EXPECT_EQ(e0.mx_host, "mx2.example.com");
  EXPECT_EQ(e0.phase, core::Phase::rcpt);
  EXPECT_FALSE(e0.tls);
  EXPECT_EQ(e0.attempt, 1);
  const auto& e1 = ev->at(1);  // same time as e2: recording order decides
  EXPECT_EQ(e1.time_ms, 3000);
  EXPECT_EQ(e1.queue_id, "Q1");
  EXPECT_EQ(e1.account_id, this->acme_);
  EXPECT_EQ(e1.recipient, "a@example.com");
  EXPECT_EQ(e1.event, K::delivered);
  EXPECT_EQ(e1.attempt, 2);
  EXPECT_EQ(e1.code, 250);
  EXPECT_EQ(e1.enhanced, "2.0.0");
  EXPECT_EQ(e1.reply, "ok: queued as 123");
  EXPECT_EQ(e1.mx_host, "mx1.example.com");
  EXPECT_TRUE(e1.tls);
  EXPECT_EQ(e1.phase, core::Phase::data_end);
  EXPECT_EQ(ev->at(2).recipient, "b@example.com");
  EXPECT_EQ(log.for_queue("Q2")->size(), 1u);
  EXPECT_TRUE(log.for_queue("nope")->empty());
  EXPECT_TRUE(log.record({}).ok());
  // Every kind and phase round-trips through storage.
  std::vector<DeliveryEvent> all;
  for (auto k : core::kEventKinds)
    for (auto p : core::kPhases) {
      auto e = event(5000, "QALL", this->acme_, "x@example.com", k, 0);
      e.phase = p;
      all.push_back(e);
    }
  ASSERT_TRUE(log.record(all).ok());
  auto back = log.for_queue("QALL").value();
  ASSERT_EQ(back.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(back[i].event, all[i].event);
    EXPECT_EQ(back[i].phase, all[i].phase);
  }
}

TYPED_TEST(DeliveryConformance, EventBatchIsAllOrNothing) {
  // The bad row comes after good ones: the rows before it are rolled back with it.
  auto bad = event(1, "", this->acme_, "a@example.com", core::EventKind::delivered, 1);
  auto r = this->store_->events.record(
      {event(1, "Q9", this->acme_, "a@example.com", core::EventKind::delivered, 1),
       event(2, "Q9", this->acme_, "b@example.com", core::EventKind::delivered, 1), bad});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::invalid));
  EXPECT_TRUE(this->store_->events.for_queue("Q9")->empty());
}

// Issue 12: the journal replays an entry with the same keys; a keyed event is stored once,
// unkeyed ones every time (as before), and a batch mixing a known key with new rows stores
// the new rows.
TYPED_TEST(DeliveryConformance, EventWithAKnownKeyIsNotStoredTwice) {
  auto a = event(1, "QK", this->acme_, "a@example.com", core::EventKind::delivered, 1);
  a.key = "0123456789abcdef0123456789abcdef.0";
  auto b = event(2, "QK", this->acme_, "b@example.com", core::EventKind::deferred, 1);
  b.key = "0123456789abcdef0123456789abcdef.1";
  auto plain = event(3, "QK", this->acme_, "c@example.com", core::EventKind::delivered, 1);
  ASSERT_TRUE(this->store_->events.record({a, b, plain}).ok());
  auto c = event(4, "QK", this->acme_, "d@example.com", core::EventKind::delivered, 1);
  c.key = "0123456789abcdef0123456789abcdef.2";
  auto r = this->store_->events.record({a, b, plain, c});  // the replay, one new row
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto back = this->store_->events.for_queue("QK").value();
  std::vector<std::string> rcpts;
  for (const auto& e : back) rcpts.push_back(e.recipient);
  EXPECT_EQ(rcpts, (std::vector<std::string>{"a@example.com", "b@example.com", "c@example.com",
                                             "c@example.com", "d@example.com"}));
}

// Text that means something in an array literal or to SQL is stored as given.
TYPED_TEST(DeliveryConformance, HostileEventTextRoundTrips) {
  const std::vector<std::string> nasty = hostile_texts("delivery_events");
  std::vector<DeliveryEvent> batch;
  for (size_t i = 0; i < nasty.size(); ++i) {
    auto e = event(500 + static_cast<int64_t>(i), "QX", this->acme_, nasty[i],
                   core::EventKind::deferred, 1);
    e.reply = nasty[(i + 1) % nasty.size()];
    e.enhanced = nasty[(i + 2) % nasty.size()];
    e.mx_host = nasty[(i + 3) % nasty.size()];
    batch.push_back(std::move(e));
  }
  ASSERT_TRUE(this->store_->events.record(batch).ok());
  auto back = this->store_->events.for_queue("QX").value();
  ASSERT_EQ(back.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(back[i].recipient, batch[i].recipient);
    EXPECT_EQ(back[i].reply, batch[i].reply);
    EXPECT_EQ(back[i].enhanced, batch[i].enhanced);
    EXPECT_EQ(back[i].mx_host, batch[i].mx_host);
  }
}

TYPED_TEST(DeliveryConformance, ThousandEventBatch) {
  std::vector<DeliveryEvent> batch;
  for (int i = 0; i < 1000; ++i) {
    auto e = event(100000 + i, "Q" + std::to_string(i % 50), this->acme_,
                   "r" + std::to_string(i) + "@example.com",
                   i % 3 ? core::EventKind::delivered : core::EventKind::deferred, 1);
    e.code = i % 3 ? 250 : 451;
    e.reply = "reply text of a typical length for an SMTP server answer";
    e.mx_host = "mx.example.com";
    batch.push_back(std::move(e));
  }
  auto r = this->store_->events.record(batch);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto q7 = this->store_->events.for_queue("Q7");
  ASSERT_TRUE(q7.ok());
  ASSERT_EQ(q7->size(), 20u);
  for (size_t i = 1; i < q7->size(); ++i) EXPECT_LT(q7->at(i - 1).time_ms, q7->at(i).time_ms);
  EXPECT_EQ(q7->front().recipient, "r7@example.com");
}

// --- registered senders ---

TYPED_TEST(DeliveryConformance, SendersPerAccountDomainCaseAndOrder) {
  auto& s = this->store_->senders;
  ASSERT_TRUE(s.add(this->acme_, "Bob@Example.COM", false).ok());
  ASSERT_TRUE(s.add(this->acme_, "Bob@example.com", true).ok());  // same sender
  ASSERT_TRUE(s.add(this->acme_, "Ann@example.com", false).ok());
  ASSERT_TRUE(s.add(this->other_, "bob@example.com", true).ok());  // its own list
  auto list = s.list(this->acme_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].address, "Ann@example.com");  // by address
  EXPECT_EQ((*list)[1].address, "Bob@example.com");  // local part kept, domain lower-cased
  EXPECT_TRUE((*list)[1].verified);
  for (const char* bad : {"", "bob", "bob@", "@example.com", "bob @example.com",
                          "<bob@example.com>", "bob@exa mple.com"})
    EXPECT_TRUE(s.add(this->acme_, bad, true).error().is(core::ErrorCode::invalid)) << bad;
  EXPECT_TRUE(s.add(424242, "x@example.com", true).error().is(core::ErrorCode::not_found));
  EXPECT_EQ(s.list(this->acme_)->size(), 2u);
}

TYPED_TEST(DeliveryConformance, DeleteSender) {
  auto& s = this->store_->senders;
  ASSERT_TRUE(s.add(this->acme_, "a@x.test", true).ok());
  EXPECT_TRUE(s.remove(this->other_, "a@x.test").error().is(core::ErrorCode::not_found));
  EXPECT_TRUE(s.remove(this->acme_, "not an address").error().is(core::ErrorCode::invalid));
  ASSERT_TRUE(s.remove(this->acme_, "a@X.TEST").ok());
  EXPECT_TRUE(s.list(this->acme_)->empty());
}

TYPED_TEST(DeliveryConformance, SenderVerificationLink) {
  auto& s = this->store_->senders;
  const int64_t now = 1'700'000'000'000;
  ASSERT_TRUE(s.add(this->acme_, "Bob@X.test", false).ok());
  // Only a registered sender of that account gets a link.
  EXPECT_TRUE(s.create_verification(this->other_, "Bob@x.test", now + 1000)
                  .error()
                  .is(core::ErrorCode::not_found));
  auto token = s.create_verification(this->acme_, "Bob@x.test", now + 1000);
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(token->size(), 26u);
  // Only its hash is stored.
  auto by_token = this->in(Database::Mode::read, [&](Tx& tx) { return tx.senders().link(*token); });
  EXPECT_FALSE(by_token.value().has_value());

  auto forged = s.consume_verification(std::string(26, 'a'), now);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, SenderVerification::Status::unknown);

  auto used = s.consume_verification(*token, now);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(used->status, SenderVerification::Status::verified);
  EXPECT_EQ(used->sender.address, "Bob@x.test");
  EXPECT_EQ(used->sender.account_id, this->acme_);
  auto senders = s.list(this->acme_);
  ASSERT_TRUE(senders.ok());
  ASSERT_EQ(senders->size(), 1u);
  EXPECT_TRUE(senders->front().verified);
  // Used once: gone.
  EXPECT_EQ(s.consume_verification(*token, now)->status, SenderVerification::Status::unknown);
}

TYPED_TEST(DeliveryConformance, ExpiredLinkVerifiesNothing) {
  auto& s = this->store_->senders;
  const int64_t now = 1'700'000'000'000;
  ASSERT_TRUE(s.add(this->acme_, "c@x.test", false).ok());
  auto token = s.create_verification(this->acme_, "c@x.test", now);
  ASSERT_TRUE(token.ok());
  auto r = s.consume_verification(*token, now);  // expires_ms <= now: expired
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, SenderVerification::Status::expired);
  EXPECT_EQ(s.consume_verification(*token, now + 5)->status, SenderVerification::Status::expired);
  EXPECT_FALSE(s.list(this->acme_)->front().verified);
  // A removed sender's link is unknown.
  auto t2 = s.create_verification(this->acme_, "c@x.test", now + 10'000);
  ASSERT_TRUE(t2.ok());
  ASSERT_TRUE(s.remove(this->acme_, "c@x.test").ok());
  EXPECT_EQ(s.consume_verification(*t2, now)->status, SenderVerification::Status::unknown);
}

TYPED_TEST(DeliveryConformance, LinksLongExpiredAreDroppedAsNewOnesAreMade) {
  auto& s = this->store_->senders;
  ASSERT_TRUE(s.add(this->acme_, "old@x.test", false).ok());
  ASSERT_TRUE(s.add(this->acme_, "new@x.test", false).ok());
  const int64_t now = this->clock_.now_ms();
  auto old = s.create_verification(this->acme_, "old@x.test", now - 31LL * 86'400'000);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(s.consume_verification(*old, now)->status, SenderVerification::Status::expired);
  ASSERT_TRUE(s.create_verification(this->acme_, "new@x.test", now + 1000).ok());
  EXPECT_EQ(s.consume_verification(*old, now)->status, SenderVerification::Status::unknown);
}

}  // namespace
}  // namespace tern::store::conformance
