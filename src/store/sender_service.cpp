#include "store/sender_service.hpp"

#include <fmt/format.h>

#include "core/address.hpp"
#include "store/secrets.hpp"

namespace tern::store {

namespace {

using Mode = Database::Mode;

constexpr int64_t kKeepExpiredLinksMs = 30LL * 86'400'000;

core::Result<std::string> normalised(const std::string& address) {
  auto mb = core::parse_mailbox(address);  // lower-cases the domain; the local part is kept
  if (!mb) return core::Error::invalid("invalid sender address");
  return mb->str();
}

core::Error no_sender(const std::string& a) {
  return core::Error::not_found(fmt::format("no such sender: {}", a));
}

}  // namespace

core::Result<void> SenderService::add(int64_t account_id, const std::string& address,
                                      bool verified) {
  auto a = normalised(address);
  if (!a) return a.error();
  const int64_t now = clock_.now_ms();
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto acc = tx.accounts().by_id(account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found(fmt::format("no account with id {}", account_id));
    return tx.senders().upsert({account_id, *a, verified}, now);
  });
}

core::Result<std::vector<Sender>> SenderService::list(int64_t account_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.senders().of_account(account_id); });
}

core::Result<void> SenderService::remove(int64_t account_id, const std::string& address) {
  auto a = normalised(address);
  if (!a) return a.error();
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto gone = tx.senders().remove(account_id, *a);
    if (!gone) return gone.error();
    if (!*gone) return no_sender(*a);
    return core::ok();
  });
}

core::Result<std::string> SenderService::create_verification(int64_t account_id,
                                                             const std::string& address,
                                                             int64_t expires_ms) {
  auto a = normalised(address);
  if (!a) return a.error();
  std::string token = secrets::random_token();
  const int64_t now = clock_.now_ms();
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto all = tx.senders().of_account(account_id);
    if (!all) return all.error();
    bool known = false;
    for (const auto& s : *all) known |= s.address == *a;
    if (!known) return no_sender(*a);
    // Links long expired are of no use to anyone: drop them as new ones are made.
    if (auto d = tx.senders().remove_links_expired_before(now - kKeepExpiredLinksMs); !d) return d;
    return tx.senders().insert_link({secrets::sha256_hex(token), account_id, *a, expires_ms, now});
  });
  if (!r) return r.error();
  return token;
}

core::Result<SenderVerification> SenderService::consume_verification(const std::string& token,
                                                                     int64_t now_ms) {
  if (token.empty() || token.size() > 64) return SenderVerification{};  // unknown
  const std::string hash = secrets::sha256_hex(token);
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<SenderVerification> {
    SenderVerification out;
    auto link = tx.senders().link(hash);
    if (!link) return link.error();
    if (!*link) return out;
    out.sender.account_id = (*link)->account_id;
    out.sender.address = (*link)->address;
    if ((*link)->expires_ms <= now_ms) {
      out.status = SenderVerification::Status::expired;
      return out;  // kept: opening it again still says "expired", not "unknown"
    }
    auto marked = tx.senders().set_verified(out.sender.account_id, out.sender.address);
    if (!marked) return marked.error();
    if (!*marked) return SenderVerification{};  // sender removed meanwhile
    if (auto r = tx.senders().remove_links(out.sender.account_id, out.sender.address); !r)
      return r.error();
    out.status = SenderVerification::Status::verified;
    out.sender.verified = true;
    return out;
  });
}

}  // namespace tern::store
