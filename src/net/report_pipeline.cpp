#include "net/report_pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "events/report_batcher.hpp"
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

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs f until it succeeds or events::retry_delay_ms says stop (permanent error, or
// events::kWriteAttempts tries); sleeps on the pipeline's own thread between tries.
template <class F>
core::Result<void> with_retries(const char* what, F f) {
  for (int i = 1;; ++i) {
    core::Result<void> r = f();
    if (r) return r;
    auto delay = events::retry_delay_ms(i, r.error().temporary);
    if (!delay) {
      spdlog::error("reports: {}: {}", what, r.error().message);
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(*delay));
  }
}

}  // namespace

struct ReportPipeline::Impl {
  struct Accepted {
    queue::QueuedMessage m;
    bool recovered = false;
  };
  struct Events {
    std::vector<store::DeliveryEvent> batch;
  };
  struct Flush {
    std::promise<void>* done;
  };
  using Item = std::variant<Accepted, Events, Flush>;
  struct CachedDefaults {
    report::AccountReportDefaults d;
    int64_t fetched_ms = 0;
  };

  ReportPipelineServices svc;
  mutable std::mutex mu;
  std::condition_variable cv;
  events::ReportBatcher<Item> batcher;
  std::thread thread;
  std::unordered_map<int64_t, CachedDefaults> defaults;  // worker thread only
  std::vector<int64_t> changed;  // (mu) accounts whose settings changed: dropped from defaults
  std::atomic<uint64_t> c_messages{0}, c_reports{0}, c_errors{0};

  explicit Impl(ReportPipelineServices s)
      : svc(std::move(s)),
        batcher(events::ReportBatcherConfig{svc.batch_delay_ms, svc.batch_max_units}) {
    thread = std::thread([this] { run(); });
  }

  static size_t units_of(const Item& it) {
    if (auto* a = std::get_if<Accepted>(&it)) return std::max<size_t>(1, a->m.recipients.size());
    if (auto* e = std::get_if<Events>(&it)) return e->batch.size();
    return 0;
  }

  void push(Item it) {
    events::Pushed pushed;
    {
      std::lock_guard lk(mu);
      const size_t units = units_of(it);
      const bool urgent = std::holds_alternative<Flush>(it);
      pushed = batcher.push(std::move(it), units, steady_ms(), urgent);
    }
    if (pushed == events::Pushed::refused)
      spdlog::warn("reports: stopped; an item arrived late and is dropped");
    else if (pushed == events::Pushed::wake)
      cv.notify_one();  // else the driver's timer already covers the batch this item joined
  }

  // The driver: the batcher decides what is written together and when; this thread waits and
  // writes.
  void run() {
    for (;;) {
      std::vector<Item> work;
      std::vector<int64_t> forget;
      {
        std::unique_lock lk(mu);
        for (;;) {
          auto action = batcher.poll(steady_ms());
          if (std::holds_alternative<events::BatchDone>(action)) return;
          if (auto* w = std::get_if<events::BatchWrite<Item>>(&action)) {
            work = std::move(w->items);
            forget.swap(changed);
            break;
          }
          const auto& wait = std::get<events::BatchWait>(action);
          if (!wait.until_ms)
            cv.wait(lk);
          else
            cv.wait_for(lk, std::chrono::milliseconds(*wait.until_ms - steady_ms()));
        }
      }
      for (int64_t id : forget) defaults.erase(id);
      handle(work);
    }
  }

  void handle(std::vector<Item>& work) {
    std::vector<store::MessageRecord> records;
    std::vector<store::DeliveryEvent> accepted_events;
    std::vector<store::DeliveryEvent> events;
    std::vector<std::promise<void>*> flushes;
    for (auto& it : work) {
      if (auto* a = std::get_if<Accepted>(&it)) {
        if (a->recovered && known(a->m.id)) continue;
        auto recs = report::records_for(a->m);
        for (auto& r : recs) r.node_id = svc.node_id;
        for (size_t i = 0; i < a->m.recipients.size(); ++i) {
          store::DeliveryEvent e;
          e.time_ms = a->m.received_ms;
          e.queue_id = a->m.id;
          e.account_id = a->m.account_id;
          e.recipient = a->m.recipients[i].address;
          e.event = core::EventKind::accepted;
          accepted_events.push_back(std::move(e));
        }
        records.insert(records.end(), std::make_move_iterator(recs.begin()),
                       std::make_move_iterator(recs.end()));
        ++c_messages;
      } else if (auto* e = std::get_if<Events>(&it)) {
        events.insert(events.end(), std::make_move_iterator(e->batch.begin()),
                      std::make_move_iterator(e->batch.end()));
      } else {
        flushes.push_back(std::get<Flush>(it).done);
      }
    }
    // Rows first: every event handled below refers to a message accepted before it.
    if (!records.empty()) {
      if (!with_retries("message log", [&] { return svc.log->record_accepted(records); }))
        ++c_errors;
      if (!with_retries("accepted events",
                        [&] { return svc.store->events.record(accepted_events); }))
        ++c_errors;
    }
    if (!events.empty()) handle_events(events);
    for (auto* p : flushes) p->set_value();
  }

  bool known(const std::string& queue_id) {
    auto r = svc.log->for_queue(queue_id);
    return !r || !r->empty();  // on a read error, assume known: never log twice
  }

  const report::AccountReportDefaults& defaults_for(int64_t account) {
    const int64_t now = now_ms();
    auto it = defaults.find(account);
    if (it != defaults.end() && now - it->second.fetched_ms < kSettingsTtlMs) return it->second.d;
    auto& c = defaults[account];
    c.fetched_ms = now;
    if (account == 0) return c.d;
    if (auto s = svc.store->settings.get(account, false)) {
      c.d.notify_url = s->notify_url;
      c.d.report_format = s->report_format;
      c.d.intermediate_report = s->intermediate_report;
    } else {
      spdlog::warn("reports: account {} settings: {}", account, s.error().message);
    }
    return c.d;
  }

  void handle_events(const std::vector<store::DeliveryEvent>& events) {
    std::unordered_map<std::string, std::vector<store::MessageRecord>> rows;  // by queue id
    std::vector<store::MessageLog::StatusUpdate> updates;
    std::vector<store::OutboxItem> items;
    for (const auto& e : events) {
      // Only delivery outcomes move a recipient's status and give reports.
      const auto status = core::status_of(e.event);
      if (!status || *status == core::MessageStatus::accepted) continue;
      auto [it, fresh] = rows.try_emplace(e.queue_id);
      if (fresh) {
        auto r = svc.log->for_queue(e.queue_id);
        if (r)
          it->second = std::move(r).value();
        else
          spdlog::error("reports: message log of {}: {}", e.queue_id, r.error().message);
      }
      // Bounce notices and other internal mail have no rows: no report, no status.
      const store::MessageRecord* rec = report::record_for_event(it->second, e);
      if (!rec) continue;
      updates.push_back({rec->message_id, *status, e.time_ms});
      auto item = report::report_for(e, *rec, defaults_for(rec->account_id), svc.price);
      if (!item) {
        spdlog::error("reports: {} {}: {}", rec->message_id, core::to_string(e.event),
                      item.error().message);
        continue;
      }
      if (item->has_value()) items.push_back(std::move(**item));
    }
    if (!updates.empty() &&
        !with_retries("message status", [&] { return svc.log->update_status(updates); }))
      ++c_errors;
    if (items.empty()) return;
    const int64_t now = now_ms();
    if (!with_retries("outbox", [&] { return svc.outbox->enqueue(items, now); })) {
      ++c_errors;
      return;
    }
    c_reports += items.size();
    if (svc.poke) svc.poke();
  }
};

ReportPipeline::ReportPipeline(ReportPipelineServices svc)
    : impl_(std::make_unique<Impl>(std::move(svc))) {}

ReportPipeline::~ReportPipeline() { stop(); }

void ReportPipeline::accepted(const queue::QueuedMessage& m) {
  impl_->push(Impl::Accepted{m, false});
}

void ReportPipeline::recovered(const queue::QueuedMessage& m) {
  impl_->push(Impl::Accepted{m, true});
}

void ReportPipeline::events(const std::vector<store::DeliveryEvent>& batch) {
  if (!batch.empty()) impl_->push(Impl::Events{batch});
}

void ReportPipeline::stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->batcher.close();
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void ReportPipeline::flush() {
  std::promise<void> done;
  auto fut = done.get_future();
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->batcher.push(Impl::Flush{&done}, 0, steady_ms(), true) == events::Pushed::refused)
      return;
  }
  impl_->cv.notify_all();
  fut.wait();
}

void ReportPipeline::settings_changed(int64_t account_id) {
  std::lock_guard lk(impl_->mu);
  impl_->changed.push_back(account_id);
}

ReportPipelineCounters ReportPipeline::counters() const {
  return {impl_->c_messages.load(), impl_->c_reports.load(), impl_->c_errors.load()};
}

}  // namespace tern::net
