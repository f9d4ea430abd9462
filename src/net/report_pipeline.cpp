#include "net/report_pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "events/journal_entry.hpp"
#include "events/report_batcher.hpp"
#include "journal/journal.hpp"
#include "report/emitter.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"

namespace tern::net {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kSettingsTtlMs = 30'000;
// Entries applied together (one transaction per kind of write): bounds a catch-up's batches.
constexpr size_t kApplyUnits = 5'000;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

size_t units_of(const events::JournalEntry& e) {
  if (const auto* a = std::get_if<events::JournalAccepted>(&e.body))
    return std::max<size_t>(1, a->m.recipients.size());
  if (const auto* ev = std::get_if<events::JournalEvents>(&e.body))
    return std::max<size_t>(1, ev->events.size());
  if (const auto* r = std::get_if<events::JournalRows>(&e.body))
    return std::max<size_t>(1, r->events.size() + r->items.size());
  return 1;
}

// An item the outbox would refuse (no URL, a URL over kMaxOutboxUrl: no way in lets one
// through, but stored data may be older) is logged and left out, so it cannot fail the other
// items (other tenants' too) enqueued with it. Returns how many were left out.
size_t drop_unsendable(std::vector<store::OutboxItem>& items) {
  size_t kept = 0, dropped = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (auto ok = store::check_item(items[i]); !ok) {
      spdlog::error("reports: {} not queued for its webhook: {}", items[i].message_id,
                    ok.error().message);
      ++dropped;
      continue;
    }
    if (kept != i) items[kept] = std::move(items[i]);
    ++kept;
  }
  items.resize(kept);
  return dropped;
}

}  // namespace

struct ReportPipeline::Impl {
  // What callers queue (the batcher decides what is journaled together).
  struct Item {
    std::optional<events::JournalEntry> entry;    // nullopt: a flush marker
    std::shared_ptr<std::promise<void>> applied;  // set once applied (flush)
  };
  // What the applier works on, in journal order.
  struct Pending {
    uint64_t seq = 0;  // 0: not in the journal (none, or its append failed)
    std::optional<events::JournalEntry> entry;
    std::shared_ptr<std::promise<void>> applied;
  };
  struct CachedDefaults {
    report::AccountReportDefaults d;
    int64_t fetched_ms = 0;
  };

  ReportPipelineServices svc;
  std::unique_ptr<journal::Journal> jnl;
  // Writer side.
  mutable std::mutex mu;
  std::condition_variable cv;
  events::ReportBatcher<Item> batcher;
  std::thread writer;
  // Applier side.
  std::mutex amu;
  std::condition_variable acv;
  std::deque<Pending> applyq;
  bool writer_done = false;
  std::atomic<bool> stopping{false};
  std::thread applier;
  std::unordered_map<int64_t, CachedDefaults> defaults;  // applier thread only
  std::vector<int64_t> changed;  // (amu) accounts whose settings changed: dropped from defaults
  std::atomic<uint64_t> c_messages{0}, c_reports{0}, c_errors{0}, c_replayed{0}, c_retries{0},
      c_journal_errors{0}, c_undecodable{0}, c_suppressions{0};
  std::atomic<uint64_t> c_unjournaled{0};  // entries waiting for an append to succeed
  bool closing = false;                    // (mu) stop() was called: the writer's retries end
  // The journal is never marked applied at or past this seq: an entry that could neither be
  // decoded nor set aside is kept in the journal (applier thread only, after the start).
  uint64_t hold_from = UINT64_MAX;
  std::atomic<uint64_t> c_pending{0};  // entries handed to the applier, not yet settled

  explicit Impl(ReportPipelineServices s)
      : svc(std::move(s)),
        batcher(events::ReportBatcherConfig{svc.batch_delay_ms, svc.batch_max_units}) {
    if (!svc.journal_dir.empty()) open_journal();
    writer = std::thread([this] { run_writer(); });
    applier = std::thread([this] { run_applier(); });
  }

  void open_journal() {
    std::vector<journal::Replayed> unapplied;
    journal::JournalOptions jo;
    jo.ops = svc.journal_ops;
    auto j = journal::Journal::open(svc.journal_dir, jo, &unapplied);
    if (!j) throw std::runtime_error(j.error().message);
    jnl = std::move(j).value();
    for (auto& r : unapplied) {
      auto e = events::decode_entry(r.payload);
      if (!e) {
        // Never thrown away (a newer binary may have written it): set aside, synced, before
        // the journal may trim past it; if even that fails, the journal keeps it.
        ++c_undecodable;
        auto kept = jnl->set_aside(r.seq, r.payload);
        if (kept) {
          spdlog::error(
              "reports: journal entry {} cannot be read ({}): nothing of it is applied; its "
              "record is kept as {}",
              r.seq, e.error().message, *kept);
        } else {
          hold_from = std::min(hold_from, r.seq);
          spdlog::error(
              "reports: journal entry {} cannot be read ({}) nor set aside ({}): nothing of it "
              "is applied, and the journal is not trimmed past it",
              r.seq, e.error().message, kept.error().message);
        }
        applyq.push_back({r.seq, std::nullopt, nullptr});  // passed over in order
        continue;
      }
      applyq.push_back({r.seq, std::move(e).value(), nullptr});
      ++c_replayed;
      ++c_pending;
    }
    if (!unapplied.empty())
      spdlog::info("reports: {} journal entries not yet applied at start: applying them first",
                   unapplied.size());
  }

  // --- callers ---

  void push(Item it, size_t units, bool urgent) {
    events::Pushed pushed;
    {
      std::lock_guard lk(mu);
      pushed = batcher.push(std::move(it), units, steady_ms(), urgent);
    }
    if (pushed == events::Pushed::refused)
      spdlog::warn("reports: stopped; an item arrived late and is dropped");
    else if (pushed == events::Pushed::wake)
      cv.notify_one();  // else the driver's timer already covers the batch this item joined
  }

  // The engine's events and suppressions: journaled at once (the batch is due now), without
  // waiting for it. The writer takes everything queued in one write and one fdatasync, so
  // while it syncs the next group gathers (group commit) and the engine never waits on disk.
  void push_now(events::JournalEntry e, size_t units) {
    push(Item{std::move(e), nullptr}, units, jnl != nullptr);
  }

  // --- the writer: batches → journal (group commit) → the applier's queue ---

  void run_writer() {
    for (;;) {
      std::vector<Item> work;
      {
        std::unique_lock lk(mu);
        for (;;) {
          auto action = batcher.poll(steady_ms());
          if (std::holds_alternative<events::BatchDone>(action)) {
            lk.unlock();
            std::lock_guard alk(amu);
            writer_done = true;
            acv.notify_all();
            return;
          }
          if (auto* w = std::get_if<events::BatchWrite<Item>>(&action)) {
            work = std::move(w->items);
            break;
          }
          const auto& wait = std::get<events::BatchWait>(action);
          if (!wait.until_ms)
            cv.wait(lk);
          else
            cv.wait_for(lk, std::chrono::milliseconds(*wait.until_ms - steady_ms()));
        }
      }
      journal_batch(work);
    }
  }

  // Durable before handed over: a batch goes to the applier only once its append succeeded.
  // A failed append (ENOSPC, EIO) is tried again with backoff, the batch (and what queues
  // behind it) waiting in memory, so an entry is never applied unless the journal holds it
  // until it is, and a restart while the database is away replays it. Only stop() ends the
  // retries: after a few more, what is left is applied from memory (lost if the store is
  // away too), loudly.
  void journal_batch(std::vector<Item>& work) {
    std::vector<std::string> payloads;
    for (const auto& it : work)
      if (it.entry) payloads.push_back(events::encode_entry(*it.entry));
    uint64_t seq = 0;  // 0: not journaled
    if (jnl && !payloads.empty()) {
      c_unjournaled += payloads.size();
      for (int attempt = 1;; ++attempt) {
        auto r = jnl->append(payloads);
        if (r) {
          seq = *r;
          if (attempt > 1)
            spdlog::info("reports: journal: {} entries appended after {} tries", payloads.size(),
                         attempt);
          break;
        }
        ++c_journal_errors;
        std::unique_lock lk(mu);
        const bool was_closing = closing;
        if (was_closing && attempt >= events::kWriteAttempts) {
          spdlog::error(
              "reports: journal: {}; stopping: {} entries are applied from memory only (lost if "
              "the store is away too)",
              r.error().message, payloads.size());
          break;
        }
        if (attempt == 1)
          spdlog::error(
              "reports: journal: {}; {} entries wait in memory, not applied, until an append "
              "succeeds",
              r.error().message, payloads.size());
        const int64_t delay = journal::apply_retry_delay_ms(attempt);
        cv.wait_for(lk,
                    std::chrono::milliseconds(was_closing ? std::min<int64_t>(delay, 200) : delay),
                    [&] { return closing != was_closing; });
      }
      c_unjournaled -= payloads.size();
    }
    {
      std::lock_guard lk(amu);
      for (auto& it : work) {
        const uint64_t s = it.entry && seq ? seq++ : 0;
        if (it.entry) ++c_pending;
        applyq.push_back({s, std::move(it.entry), it.applied});
      }
    }
    acv.notify_one();
  }

  // --- the applier: journal order, idempotent writes, backoff while the store is away ---

  void run_applier() {
    int attempt = 0;
    bool away = false;
    std::vector<int64_t> forget;
    for (;;) {
      std::vector<Pending> group;
      {
        std::unique_lock lk(amu);
        acv.wait(lk, [&] { return !applyq.empty() || writer_done; });
        if (applyq.empty()) return;  // the writer is done and everything is handled
        // A prefix of the queue: up to kApplyUnits, and up to (including) a flush marker.
        size_t units = 0;
        for (size_t i = 0; i < applyq.size(); ++i) {
          const auto& p = applyq[i];
          const size_t u = p.entry ? units_of(*p.entry) : 0;
          if (!group.empty() && units + u > kApplyUnits) break;
          units += u;
          group.push_back(std::move(applyq[i]));
          if (!group.back().entry && group.back().applied) break;
        }
        // A group that meets a temporary error goes back to the front, in order.
        applyq.erase(applyq.begin(), applyq.begin() + static_cast<long>(group.size()));
        forget.swap(changed);
      }
      for (int64_t id : forget) defaults.erase(id);
      forget.clear();
      std::vector<const events::JournalEntry*> entries;
      for (const auto& p : group)
        if (p.entry) entries.push_back(&*p.entry);
      auto r = entries.empty() ? core::Result<void>(core::ok()) : apply(entries);
      if (!r) {
        ++c_retries;
        ++attempt;
        if (!away) {
          away = true;
          spdlog::warn(
              "reports: the store is unavailable ({}); the node's writes wait in the journal and "
              "are applied once it is back",
              r.error().message);
        }
        const bool give_up = stopping && attempt >= events::kWriteAttempts;
        if (give_up) {
          spdlog::warn("reports: stopping while the store is unavailable: {} entries {}",
                       group.size() + applyq.size(),
                       jnl ? "stay in the journal for the next start" : "are lost");
          for (auto& p : group)
            if (p.applied) p.applied->set_value();
          std::lock_guard lk(amu);
          for (auto& p : applyq)
            if (p.applied) p.applied->set_value();
          applyq.clear();
          c_pending = 0;
          continue;  // the writer may still hand over its last batch: handled the same way
        }
        {
          std::unique_lock lk(amu);
          for (auto it = group.rbegin(); it != group.rend(); ++it)
            applyq.push_front(std::move(*it));
          // Stopping: a few short tries, then what is left stays in the journal.
          const bool was_stopping = stopping;
          const int64_t delay = journal::apply_retry_delay_ms(attempt);
          acv.wait_for(
              lk, std::chrono::milliseconds(was_stopping ? std::min<int64_t>(delay, 200) : delay),
              [&] { return stopping.load() != was_stopping; });
        }
        continue;
      }
      if (away) {
        spdlog::info("reports: the store is back; journaled writes applied");
        away = false;
      }
      attempt = 0;
      uint64_t last = 0;
      for (const auto& p : group) last = std::max(last, p.seq);
      if (hold_from != UINT64_MAX) last = std::min(last, hold_from - 1);
      if (jnl && last)
        if (auto m = jnl->mark_applied(last); !m)
          spdlog::warn("reports: journal: {}", m.error().message);
      c_pending -= entries.size();
      for (auto& p : group)
        if (p.applied) p.applied->set_value();
    }
  }

  // A temporary error stops the group (returned: tried again later); a permanent one is
  // logged and counted, and that write is dropped.
  bool failed(const core::Result<void>& r, const char* what, std::optional<core::Error>& temp) {
    if (r) return false;
    if (r.error().temporary) {
      temp = r.error();
      return true;
    }
    spdlog::error("reports: {}: {}", what, r.error().message);
    ++c_errors;
    return false;
  }

  core::Result<void> apply(const std::vector<const events::JournalEntry*>& entries) {
    std::vector<store::MessageRecord> records;
    std::vector<store::DeliveryEvent> event_rows;
    // Delivery events with the key of the entry they came in and their index in it.
    struct Keyed {
      const store::DeliveryEvent* e;
      std::string key;
    };
    std::vector<Keyed> outcomes;
    std::vector<const store::Suppression*> suppressions;
    std::vector<store::OutboxItem> direct_items;  // rows entries' items, as they are
    uint64_t messages = 0;
    std::unordered_set<std::string> in_group;  // queue ids this group logs
    for (const auto* entry : entries) {
      if (const auto* a = std::get_if<events::JournalAccepted>(&entry->body)) {
        // A message the spool gave back at start may also be in a replayed entry of this very
        // group (a crash before it was applied): the log does not know it yet, the group does.
        if (!in_group.insert(a->m.id).second) continue;
        if (a->recovered) {
          auto known = svc.log->for_queue(a->m.id);
          if (!known && known.error().temporary) return known.error();
          if (!known || !known->empty()) continue;  // on a permanent read error: never twice
        }
        auto recs = report::records_for(a->m);
        for (auto& r : recs) r.node_id = svc.node_id;
        for (size_t i = 0; i < a->m.recipients.size(); ++i) {
          store::DeliveryEvent e;
          e.time_ms = a->m.received_ms;
          e.queue_id = a->m.id;
          e.account_id = a->m.account_id;
          e.recipient = a->m.recipients[i].address;
          e.event = core::EventKind::accepted;
          e.key = events::row_key(entry->key, i);
          event_rows.push_back(std::move(e));
        }
        records.insert(records.end(), std::make_move_iterator(recs.begin()),
                       std::make_move_iterator(recs.end()));
        ++messages;
      } else if (const auto* ev = std::get_if<events::JournalEvents>(&entry->body)) {
        for (size_t i = 0; i < ev->events.size(); ++i) {
          auto k = events::row_key(entry->key, i);
          if (svc.record_events) {
            event_rows.push_back(ev->events[i]);
            event_rows.back().key = k;
          }
          outcomes.push_back({&ev->events[i], std::move(k)});
        }
      } else if (const auto* rows = std::get_if<events::JournalRows>(&entry->body)) {
        for (size_t i = 0; i < rows->events.size(); ++i) {
          event_rows.push_back(rows->events[i]);
          event_rows.back().key = events::row_key(entry->key, i);
        }
        for (size_t i = 0; i < rows->items.size(); ++i) {
          direct_items.push_back(rows->items[i]);
          direct_items.back().item_key = events::row_key(entry->key, i);
        }
      } else {
        suppressions.push_back(&std::get<events::JournalSuppression>(entry->body).s);
      }
    }
    std::optional<core::Error> temp;
    // Rows first: every event handled below refers to a message accepted before it.
    if (!records.empty() && failed(svc.log->record_accepted(records), "message log", temp))
      return *temp;
    if (!event_rows.empty() &&
        failed(svc.store->events.record(event_rows), "delivery events", temp))
      return *temp;
    if (!outcomes.empty())
      if (auto r = handle_outcomes(outcomes); !r) return r;
    c_errors += drop_unsendable(direct_items);
    if (!direct_items.empty()) {
      if (failed(svc.outbox->enqueue(direct_items, now_ms()), "outbox", temp)) return *temp;
      if (svc.poke) svc.poke();
    }
    uint64_t added = 0;
    for (const auto* s : suppressions) {
      const auto r = svc.store->suppressions.add(*s);
      if (failed(r, "suppression", temp)) return *temp;
      added += r.ok();
    }
    c_messages += messages;
    c_suppressions += added;
    return core::ok();
  }

  core::Result<report::AccountReportDefaults> defaults_for(int64_t account) {
    const int64_t now = now_ms();
    auto it = defaults.find(account);
    if (it != defaults.end() && now - it->second.fetched_ms < kSettingsTtlMs) return it->second.d;
    if (account == 0) return report::AccountReportDefaults{};
    auto s = svc.store->settings.get(account, false);
    if (!s && s.error().temporary) {
      // The store is away: a cached copy of any age beats a report without its URL.
      if (it != defaults.end()) return it->second.d;
      return s.error();
    }
    auto& c = defaults[account];
    c.fetched_ms = now;
    if (s) {
      c.d.notify_url = s->notify_url;
      c.d.report_format = s->report_format;
      c.d.intermediate_report = s->intermediate_report;
    } else {
      spdlog::warn("reports: account {} settings: {}", account, s.error().message);
    }
    return c.d;
  }

  template <class K>
  core::Result<void> handle_outcomes(const std::vector<K>& outcomes) {
    // Only delivery outcomes move a recipient's status and give reports.
    auto moves = [](const store::DeliveryEvent& e) {
      const auto status = core::status_of(e.event);
      return status && *status != core::MessageStatus::accepted;
    };
    // The message log rows of every queue id the group names: one read.
    std::vector<std::string> queue_ids;
    for (const auto& o : outcomes)
      if (moves(*o.e)) queue_ids.push_back(o.e->queue_id);
    std::unordered_map<std::string, std::vector<store::MessageRecord>> rows;  // by queue id
    if (!queue_ids.empty()) {
      auto r = svc.log->for_queues(queue_ids);
      if (r) {
        rows = std::move(r).value();
      } else if (r.error().temporary) {
        return r.error();
      } else {
        // A damaged row fails the batch: read one queue id at a time, so only the messages
        // whose rows cannot be read go without status and report.
        for (const auto& q : queue_ids) {
          if (rows.count(q)) continue;
          auto one = svc.log->for_queue(q);
          if (!one && one.error().temporary) return one.error();
          if (!one) spdlog::error("reports: message log of {}: {}", q, one.error().message);
          rows[q] = one ? std::move(one).value() : std::vector<store::MessageRecord>{};
        }
      }
    }
    std::vector<store::MessageLog::StatusUpdate> updates;
    std::vector<store::OutboxItem> items;
    for (const auto& o : outcomes) {
      const store::DeliveryEvent& e = *o.e;
      if (!moves(e)) continue;
      const auto status = core::status_of(e.event);
      // Bounce notices and other internal mail have no rows: no report, no status.
      const store::MessageRecord* rec = report::record_for_event(rows[e.queue_id], e);
      if (!rec) continue;
      updates.push_back({rec->message_id, *status, e.time_ms});
      auto defaults = defaults_for(rec->account_id);
      if (!defaults) return defaults.error();
      auto item = report::report_for(e, *rec, defaults.value(), svc.price);
      if (!item) {
        spdlog::error("reports: {} {}: {}", rec->message_id, core::to_string(e.event),
                      item.error().message);
        continue;
      }
      if (item->has_value()) {
        items.push_back(std::move(**item));
        items.back().item_key = o.key;
      }
    }
    std::optional<core::Error> temp;
    if (!updates.empty() && failed(svc.log->update_status(updates), "message status", temp))
      return *temp;
    c_errors += drop_unsendable(items);
    if (items.empty()) return core::ok();
    if (failed(svc.outbox->enqueue(items, now_ms()), "outbox", temp)) return *temp;
    c_reports += items.size();
    if (svc.poke) svc.poke();
    return core::ok();
  }

  void stop() {
    {
      std::lock_guard lk(mu);
      batcher.close();
      closing = true;
    }
    cv.notify_all();
    if (writer.joinable()) writer.join();
    {
      std::lock_guard lk(amu);
      stopping = true;
    }
    acv.notify_all();
    if (applier.joinable()) applier.join();
  }
};

ReportPipeline::ReportPipeline(ReportPipelineServices svc)
    : impl_(std::make_unique<Impl>(std::move(svc))) {}

ReportPipeline::~ReportPipeline() { stop(); }

void ReportPipeline::accepted(const queue::QueuedMessage& m) {
  events::JournalEntry e{events::new_entry_key(), events::JournalAccepted{m, false}};
  const size_t units = std::max<size_t>(1, m.recipients.size());
  impl_->push(Impl::Item{std::move(e), nullptr}, units, false);
}

void ReportPipeline::recovered(const queue::QueuedMessage& m) {
  events::JournalEntry e{events::new_entry_key(), events::JournalAccepted{m, true}};
  const size_t units = std::max<size_t>(1, m.recipients.size());
  impl_->push(Impl::Item{std::move(e), nullptr}, units, false);
}

void ReportPipeline::events(const std::vector<store::DeliveryEvent>& batch) {
  if (batch.empty()) return;
  events::JournalEntry e{events::new_entry_key(), events::JournalEvents{batch}};
  impl_->push_now(std::move(e), batch.size());
}

void ReportPipeline::suppressed(const store::Suppression& s) {
  events::JournalEntry e{events::new_entry_key(), events::JournalSuppression{s}};
  impl_->push_now(std::move(e), 1);
}

void ReportPipeline::rows(std::vector<store::DeliveryEvent> evs,
                          std::vector<store::OutboxItem> items) {
  if (evs.empty() && items.empty()) return;
  const size_t units = evs.size() + items.size();
  events::JournalEntry e{events::new_entry_key(),
                         events::JournalRows{std::move(evs), std::move(items)}};
  impl_->push_now(std::move(e), units);
}

void ReportPipeline::stop() { impl_->stop(); }

void ReportPipeline::flush() { flush_for(std::nullopt); }

bool ReportPipeline::flush_for(std::optional<std::chrono::milliseconds> limit) {
  // Shared with the pipeline: a caller that stops waiting leaves the promise to it.
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->batcher.push(Impl::Item{std::nullopt, done}, 0, steady_ms(), true) ==
        events::Pushed::refused)
      return true;
  }
  impl_->cv.notify_all();
  if (!limit) {
    fut.wait();
    return true;
  }
  return fut.wait_for(*limit) == std::future_status::ready;
}

void ReportPipeline::settings_changed(int64_t account_id) {
  std::lock_guard lk(impl_->amu);
  impl_->changed.push_back(account_id);
}

ReportPipelineCounters ReportPipeline::counters() const {
  ReportPipelineCounters c;
  c.messages = impl_->c_messages.load();
  c.reports = impl_->c_reports.load();
  c.errors = impl_->c_errors.load();
  c.replayed = impl_->c_replayed.load();
  c.retries = impl_->c_retries.load();
  c.journal_errors = impl_->c_journal_errors.load();
  c.pending = impl_->c_pending.load();
  c.unjournaled = impl_->c_unjournaled.load();
  c.undecodable = impl_->c_undecodable.load();
  c.suppressions = impl_->c_suppressions.load();
  if (impl_->jnl) c.journal_damaged = impl_->jnl->stats().corrupt_records;
  return c;
}

}  // namespace tern::net
