#include "store/store.hpp"

#include <fmt/format.h>

namespace tern::store {

const core::Clock& Store::system_clock() {
  static const core::SystemClock clock;
  return clock;
}

Store::Store(Database& db, const core::Clock& clock)
    : db_(db),
      cache_(clock),
      accounts(db, clock, cache_),
      credentials(db, clock, cache_),
      api_keys(db, clock),
      domains(db, clock, sealer_),
      senders(db, clock),
      settings(db, clock, sealer_),
      suppressions(db, clock),
      suspensions(db),
      events(db) {}

core::Result<policy::AccountContext> Store::account_context(int64_t account_id) {
  using Rows = std::vector<std::pair<std::string, std::string>>;
  policy::AccountContext ctx;
  Rows rows;
  // One read transaction: domains, senders and settings come from the same snapshot.
  auto r = in_tx(db_, Database::Mode::read, [&](Tx& tx) -> core::Result<void> {
    auto acc = tx.accounts().by_id(account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found(fmt::format("no account with id {}", account_id));
    ctx.id = account_id;
    ctx.name = (*acc)->name;
    auto domains = tx.domains().verified_names(account_id);
    if (!domains) return domains.error();
    ctx.domains = std::move(domains).value();
    auto senders = tx.senders().of_account(account_id);
    if (!senders) return senders.error();
    for (auto& s : *senders)
      if (s.verified) ctx.senders.push_back(std::move(s.address));
    auto settings = tx.settings().rows(account_id);
    if (!settings) return settings.error();
    rows = std::move(settings).value();
    return core::ok();
  });
  if (!r) return r.error();
  auto settings = SettingsService::merge(rows, nullptr);
  if (!settings) return settings.error();
  ctx.mail_from = std::move(settings->mail_from);
  ctx.cc = std::move(settings->cc);
  ctx.bcc = std::move(settings->bcc);
  ctx.defaults.notify_url = settings->notify_url;
  ctx.defaults.tracking_url = settings->tracking_url;
  ctx.defaults.intermediate_report = settings->intermediate_report;
  if (settings->report_format == ReportFormat::xml)
    ctx.defaults.notify_content_type = "application/xml";
  return ctx;
}

}  // namespace tern::store
