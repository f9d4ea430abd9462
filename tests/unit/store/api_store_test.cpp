// Store operations the REST API needs (issue 5): bearer API keys, extra SMTP credentials,
// deleting accounts, domains and senders, and registered-sender verification links.
#include <gtest/gtest.h>

#include <algorithm>

#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

class ApiStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::open_sqlite(dir_.file("tern.db"));
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
    auto a = store_->create_account("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a.value();
    auto b = store_->create_account("other");
    ASSERT_TRUE(b.ok());
    other_ = b.value();
  }
  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  CreatedAccount acme_, other_;
};

TEST_F(ApiStoreTest, ApiKeyVerifiesUntilRevoked) {
  auto key = store_->create_api_key(acme_.account.id);
  ASSERT_TRUE(key.ok());
  auto v = store_->verify_api_key(*key);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, acme_.account.id);
  // One character changed, a truncated key, garbage: nothing.
  std::string wrong = *key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  for (const std::string& k :
       {wrong, key->substr(0, 20), std::string("tern_"), std::string(), std::string(5000, 'x')}) {
    auto r = store_->verify_api_key(k);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value()) << k;
  }
  ASSERT_TRUE(store_->revoke_api_key(acme_.account.id, key->substr(0, 12)).ok());
  auto after = store_->verify_api_key(*key);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
}

TEST_F(ApiStoreTest, CredentialsCreateListVerifyDelete) {
  auto list = store_->list_credentials(acme_.account.id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().username, "acme");

  auto gen = store_->create_credential(acme_.account.id, "");
  ASSERT_TRUE(gen.ok()) << gen.error().message;
  EXPECT_TRUE(gen->username.starts_with("acme.")) << gen->username;
  EXPECT_EQ(gen->username.size(), 11u);
  EXPECT_GE(gen->password.size(), 20u);
  auto named = store_->create_credential(acme_.account.id, "acme-app");
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->username, "acme-app@acme");

  auto ok = store_->verify_credentials(gen->username, gen->password);
  ASSERT_TRUE(ok.ok());
  ASSERT_TRUE(ok->has_value());
  EXPECT_EQ(**ok, acme_.account.id);

  list = store_->list_credentials(acme_.account.id);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
  auto named_ok = store_->verify_credentials(named->username, named->password);
  ASSERT_TRUE(named_ok.ok());
  ASSERT_TRUE(named_ok->has_value());

  // Chosen names are namespaced per account: another account's "acme-app" is its own login
  // (nothing tells it acme has one), and the same name twice in one account is refused.
  auto theirs = store_->create_credential(other_.account.id, "acme-app");
  ASSERT_TRUE(theirs.ok()) << theirs.error().message;
  EXPECT_EQ(theirs->username, "acme-app@" + other_.account.name);
  EXPECT_FALSE(store_->create_credential(acme_.account.id, "acme-app").ok());
  auto named_other = store_->create_credential(acme_.account.id, "other");
  ASSERT_TRUE(named_other.ok()) << named_other.error().message;
  EXPECT_EQ(named_other->username, "other@acme");
  EXPECT_FALSE(store_->create_credential(acme_.account.id, "Bad Name").ok());
  EXPECT_FALSE(store_->create_credential(acme_.account.id, "a\r\nb").ok());
  EXPECT_FALSE(store_->create_credential(999, "").ok());

  // Another account cannot delete acme's login.
  EXPECT_FALSE(store_->delete_credential(other_.account.id, gen->username).ok());
  ASSERT_TRUE(store_->delete_credential(acme_.account.id, gen->username).ok());
  EXPECT_FALSE(store_->delete_credential(acme_.account.id, gen->username).ok());
  // The verification cache does not keep a deleted login alive.
  auto gone = store_->verify_credentials(gen->username, gen->password);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(ApiStoreTest, DeleteDomainOnlyOwnAndItsKeys) {
  ASSERT_TRUE(store_->add_domain(acme_.account.id, "acme.test", true).ok());
  EXPECT_FALSE(store_->delete_domain(other_.account.id, "acme.test").ok());
  EXPECT_FALSE(store_->delete_domain(acme_.account.id, "nope.test").ok());
  ASSERT_TRUE(store_->delete_domain(acme_.account.id, "ACME.test").ok());
  auto list = store_->list_domains(acme_.account.id);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  // The name is free again, for anyone.
  EXPECT_TRUE(store_->add_domain(other_.account.id, "acme.test", false).ok());
}

TEST_F(ApiStoreTest, DeleteSender) {
  ASSERT_TRUE(store_->add_sender(acme_.account.id, "a@x.test", true).ok());
  EXPECT_FALSE(store_->delete_sender(other_.account.id, "a@x.test").ok());
  EXPECT_FALSE(store_->delete_sender(acme_.account.id, "not an address").ok());
  ASSERT_TRUE(store_->delete_sender(acme_.account.id, "a@X.TEST").ok());
  auto list = store_->list_senders(acme_.account.id);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(ApiStoreTest, DeleteAccountCascades) {
  ASSERT_TRUE(store_->add_domain(acme_.account.id, "acme.test", true).ok());
  ASSERT_TRUE(store_->add_sender(acme_.account.id, "a@x.test", true).ok());
  auto key = store_->create_api_key(acme_.account.id);
  ASSERT_TRUE(key.ok());
  auto v = store_->verify_credentials(acme_.username, acme_.password);  // cached now
  ASSERT_TRUE(v.ok() && v->has_value());
  ASSERT_TRUE(store_->delete_account(acme_.account.id).ok());
  EXPECT_FALSE(store_->delete_account(acme_.account.id).ok());
  auto found = store_->find_account("acme");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  auto k = store_->verify_api_key(*key);
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(k->has_value());
  auto c = store_->verify_credentials(acme_.username, acme_.password);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  EXPECT_TRUE(store_->add_domain(other_.account.id, "acme.test", false).ok());
}

TEST_F(ApiStoreTest, SenderVerificationLink) {
  const int64_t now = 1'700'000'000'000;
  ASSERT_TRUE(store_->add_sender(acme_.account.id, "Bob@X.test", false).ok());
  // Only a registered sender of that account gets a link.
  EXPECT_FALSE(
      store_->create_sender_verification(other_.account.id, "Bob@x.test", now + 1000).ok());
  auto token = store_->create_sender_verification(acme_.account.id, "Bob@x.test", now + 1000);
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(token->size(), 26u);

  auto forged = store_->consume_sender_verification(std::string(26, 'a'), now);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, SenderVerification::Status::unknown);

  auto used = store_->consume_sender_verification(*token, now);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(used->status, SenderVerification::Status::verified);
  EXPECT_EQ(used->sender.address, "Bob@x.test");
  EXPECT_EQ(used->sender.account_id, acme_.account.id);
  auto senders = store_->list_senders(acme_.account.id);
  ASSERT_TRUE(senders.ok());
  ASSERT_EQ(senders->size(), 1u);
  EXPECT_TRUE(senders->front().verified);
  // Used once: gone.
  auto again = store_->consume_sender_verification(*token, now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, SenderVerification::Status::unknown);
}

TEST_F(ApiStoreTest, ExpiredLinkVerifiesNothing) {
  const int64_t now = 1'700'000'000'000;
  ASSERT_TRUE(store_->add_sender(acme_.account.id, "c@x.test", false).ok());
  auto token = store_->create_sender_verification(acme_.account.id, "c@x.test", now);
  ASSERT_TRUE(token.ok());
  auto r = store_->consume_sender_verification(*token, now);  // expires_ms <= now: expired
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, SenderVerification::Status::expired);
  auto again = store_->consume_sender_verification(*token, now + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, SenderVerification::Status::expired);
  auto senders = store_->list_senders(acme_.account.id);
  ASSERT_TRUE(senders.ok());
  EXPECT_FALSE(senders->front().verified);
  // A removed sender's link is unknown.
  auto t2 = store_->create_sender_verification(acme_.account.id, "c@x.test", now + 10'000);
  ASSERT_TRUE(t2.ok());
  ASSERT_TRUE(store_->delete_sender(acme_.account.id, "c@x.test").ok());
  auto r2 = store_->consume_sender_verification(*t2, now);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->status, SenderVerification::Status::unknown);
}

}  // namespace
}  // namespace tern::store
