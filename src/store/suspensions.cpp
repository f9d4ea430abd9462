// Account suspension rules (see suspensions.hpp), over any backend.
#include "store/suspensions.hpp"

#include "core/utf8.hpp"

namespace tern::store {

namespace {
using Mode = Database::Mode;
}  // namespace

core::Result<void> check_suspension_reason(std::string_view reason) {
  if (reason.empty()) return core::Error::invalid("reason is required");
  if (reason.size() > 200) return core::Error::invalid("reason is longer than 200 bytes");
  for (unsigned char c : reason)
    if (c < 0x20 || c == 0x7f) return core::Error::invalid("reason holds a control character");
  if (!core::valid_utf8(reason)) return core::Error::invalid("reason is not UTF-8");
  return core::ok();
}

core::Result<Suspension> SuspensionService::suspend(int64_t account_id, const std::string& reason,
                                                    int64_t now_ms) {
  if (auto r = check_suspension_reason(reason); !r) return r.error();
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<Suspension> {
    auto acc = tx.accounts().by_id(account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found("no such account");
    auto was = tx.suspensions().of_account(account_id);
    if (!was) return was.error();
    // A new reason keeps the time the suspension began.
    Suspension s{account_id, reason, *was ? (*was)->since_ms : now_ms};
    if (auto r = tx.suspensions().put(s); !r) return r.error();
    return s;
  });
}

core::Result<bool> SuspensionService::unsuspend(int64_t account_id) {
  return in_tx(db_, Mode::write, [&](Tx& tx) { return tx.suspensions().remove(account_id); });
}

core::Result<std::optional<Suspension>> SuspensionService::get(int64_t account_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.suspensions().of_account(account_id); });
}

core::Result<std::vector<Suspension>> SuspensionService::all() {
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.suspensions().all(); });
}

}  // namespace tern::store
