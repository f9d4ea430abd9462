// A scripted world around delivery::Engine for transcript tests: a spool, settings, a
// suppression list, DNS and remote servers, all in memory, and a FakeClock. Every action the
// engine emits is written to `log` as one line ("load-envelopes q1 q2", "connect #1 mx:a.test")
// and answered at once (or held, when a test switches an automatic answer off).
#pragma once
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "core/clock.hpp"
#include "delivery/engine.hpp"
#include "queue/string_content.hpp"

namespace tern::delivery::test {

using MemReader = queue::StringContent;

class MemSource final : public queue::Spool::ContentSource {
 public:
  explicit MemSource(std::string s) : s_(std::move(s)) {}
  std::unique_ptr<queue::Spool::ContentReader> reader() const override {
    return std::make_unique<MemReader>(s_);
  }
  uint64_t size() const override { return s_.size(); }

 private:
  std::string s_;
};

inline queue::QueuedMessage message(const std::string& id, int64_t account,
                                    const std::string& sender,
                                    const std::vector<std::string>& rcpts, int64_t received_ms) {
  queue::QueuedMessage m;
  m.id = id;
  m.account_id = account;
  m.account_name = "acct" + std::to_string(account);
  m.sender = sender;
  for (const auto& r : rcpts) {
    queue::Recipient rc;
    rc.address = r;
    m.recipients.push_back(rc);
  }
  m.received_ms = received_ms;
  m.message_id = "<" + id + "@client.test>";
  return m;
}

// What a remote does with one recipient.
using Remote = std::function<core::DeliveryOutcome(const std::string& rcpt)>;

inline Remote accept_all() {
  return [](const std::string&) {
    return core::DeliveryOutcome::from_reply(250, "2.0.0", "ok", core::Phase::data_end, "mx.test");
  };
}
inline Remote reply(int code, std::string enhanced, core::Phase phase = core::Phase::rcpt) {
  return [=](const std::string&) {
    return core::DeliveryOutcome::from_reply(code, enhanced, "remote says " + std::to_string(code),
                                             phase, "mx.test");
  };
}

struct World {
  core::FakeClock clock{1'700'000'000'000};
  EngineConfig cfg;
  std::unique_ptr<Engine> engine;

  // The fakes.
  std::map<std::string, queue::QueuedMessage> spool;  // live messages as last persisted
  std::vector<std::string> spool_order;
  std::map<int64_t, store::AccountSettings> settings;
  std::set<int64_t> settings_fail;  // accounts whose settings cannot be read
  std::set<std::pair<int64_t, std::string>> suppressed;
  std::map<std::string, core::DeliveryOutcome> dns_fail;  // dest → outcome of its look-up
  std::map<std::string, Remote> remotes;                  // dest → behaviour; absent = accept
  std::set<std::string> down;                             // dests whose every host refuses

  // What the engine did.
  std::vector<std::string> log;
  std::vector<DeliveryEvent> events;
  std::vector<AddSuppression> suppressions;
  std::vector<SpoolBounce> bounces;
  std::vector<std::string> finished;
  std::vector<std::pair<std::string, std::vector<std::string>>> handouts;  // dest, rcpts
  std::vector<std::string> handout_ids;  // each handout's queue id (logs, sandbox capture)
  std::map<uint64_t, std::string> open;  // connections opened and not yet run

  // Automatic answers (a test may hold some back).
  bool auto_load = true, auto_settings = true, auto_suppression = true, auto_resolve = true;
  std::deque<Action> held;

  World() { cfg.hostname = "tern.test"; }

  Engine& e() {
    if (!engine) engine = std::make_unique<Engine>(cfg, clock);
    return *engine;
  }

  void put_in_spool(const queue::QueuedMessage& m) {
    if (!spool.count(m.id)) spool_order.push_back(m.id);
    spool[m.id] = m;
  }

  // Commits a message to the spool and tells the engine.
  void submit(const queue::QueuedMessage& m) {
    put_in_spool(m);
    e().submitted(m, std::make_shared<MemSource>("Subject: " + m.id + "\r\n\r\nbody\r\n"));
    pump();
  }

  // A restart: a new engine over the same spool.
  void restart() {
    engine.reset();
    open.clear();
    std::vector<queue::QueueEntry> entries;
    for (const auto& id : spool_order)
      if (spool.count(id)) entries.push_back(queue::summarize(spool.at(id)));
    e().start(entries);
    pump();
  }

  void advance(int64_t ms) {
    clock.advance_ms(ms);
    e().tick();
    pump();
  }

  // Advances to the engine's next wake-up (if any is at or before limit).
  bool wake(int64_t limit_ms) {
    auto w = e().next_wakeup_ms();
    if (!w || *w > clock.now_ms() + limit_ms) return false;
    clock.advance_ms(std::max<int64_t>(0, *w - clock.now_ms()));
    e().tick();
    pump();
    return true;
  }

  // Answers every action the engine has emitted, until it emits none.
  void pump() {
    for (;;) {
      auto acts = e().take_actions();
      if (acts.empty()) return;
      for (auto& a : acts) handle(std::move(a));
    }
  }

  // Releases the held actions (answers them now).
  void release_held() {
    std::deque<Action> h;
    h.swap(held);
    for (auto& a : h) answer(std::move(a));
    pump();
  }

  void handle(Action a) {
    log.push_back(describe(a));
    bool hold = (std::holds_alternative<LoadEnvelopes>(a) && !auto_load) ||
                (std::holds_alternative<LoadSettings>(a) && !auto_settings) ||
                (std::holds_alternative<CheckSuppression>(a) && !auto_suppression) ||
                (std::holds_alternative<Resolve>(a) && !auto_resolve);
    if (hold)
      held.push_back(std::move(a));
    else
      answer(std::move(a));
  }

  void answer(Action a) {
    if (auto* x = std::get_if<LoadEnvelopes>(&a)) {
      std::vector<LoadedEnvelope> batch;
      for (const auto& id : x->ids) {
        LoadedEnvelope l;
        l.id = id;
        if (spool.count(id)) {
          l.msg = spool.at(id);
          l.content = std::make_shared<MemSource>("Subject: " + id + "\r\n\r\nbody\r\n");
        }
        batch.push_back(std::move(l));
      }
      e().envelopes_loaded(std::move(batch));
    } else if (auto* x = std::get_if<LoadSettings>(&a)) {
      if (settings_fail.count(x->account_id))
        e().settings_loaded(x->account_id, core::Error::temp("database is locked"));
      else
        e().settings_loaded(x->account_id, settings[x->account_id]);
    } else if (auto* x = std::get_if<CheckSuppression>(&a)) {
      for (auto& q : x->queries) q.suppressed = suppressed.count({q.account_id, q.address}) > 0;
      e().suppression_checked(std::move(x->queries));
    } else if (auto* x = std::get_if<Resolve>(&a)) {
      auto f = dns_fail.find(x->route.dest);
      if (f != dns_fail.end())
        e().resolved(x->route.dest, f->second);
      else
        e().resolved(x->route.dest, std::nullopt);
    } else if (auto* x = std::get_if<Connect>(&a)) {
      open[x->conn] = x->dest;
    } else if (auto* x = std::get_if<RecordEvents>(&a)) {
      events.insert(events.end(), x->events.begin(), x->events.end());
    } else if (auto* x = std::get_if<AddSuppression>(&a)) {
      suppressions.push_back(*x);
    } else if (auto* x = std::get_if<PersistState>(&a)) {
      auto it = spool.find(x->msg.id);
      if (it != spool.end()) {
        it->second.recipients = x->msg.recipients;
        it->second.held = x->msg.held;
      }
    } else if (auto* x = std::get_if<PersistHeld>(&a)) {
      auto it = spool.find(x->id);
      if (it != spool.end()) it->second.held = x->held;
    } else if (auto* x = std::get_if<Finish>(&a)) {
      spool.erase(x->id);
      finished.push_back(x->id);
    } else if (auto* x = std::get_if<SpoolBounce>(&a)) {
      bounces.push_back(*x);
    }
  }

  // Runs every open connection to the end (and those opened meanwhile), in order.
  void run_connections() {
    while (!open.empty()) {
      auto [conn, dest] = *open.begin();
      open.erase(open.begin());
      run_connection(conn, dest);
    }
  }

  // Runs only the connections open now to dest, handing out at most `max` messages each.
  void run_connection(uint64_t conn, const std::string& dest, size_t max = SIZE_MAX) {
    if (down.count(dest)) {
      e().connection_done(conn, core::DeliveryOutcome::network("connection refused",
                                                               core::Phase::connect, "mx." + dest));
      pump();
      return;
    }
    Remote r = remotes.count(dest) ? remotes.at(dest) : accept_all();
    for (size_t n = 0; n < max; ++n) {
      auto h = e().next_message(conn);
      pump();
      if (!h) break;
      handouts.emplace_back(dest, h->recipients);
      handout_ids.push_back(h->queue_id);
      std::vector<core::DeliveryOutcome> outs;
      for (const auto& rc : h->recipients) outs.push_back(r(rc));
      e().message_done(conn, h->handle, outs);
      pump();
    }
    e().connection_done(conn, std::nullopt);
    pump();
  }

  // Events for one message, "recipient:event" in order.
  std::vector<std::string> events_of(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& ev : events)
      if (ev.queue_id == id)
        out.push_back(ev.recipient + ":" + std::string(core::to_string(ev.event)));
    return out;
  }

  // The log lines since position from, and moves from past them.
  std::vector<std::string> since(size_t& from) const {
    std::vector<std::string> out(log.begin() + static_cast<long>(from), log.end());
    from = log.size();
    return out;
  }

  static std::string describe(const Action& a) {
    if (auto* x = std::get_if<LoadEnvelopes>(&a)) {
      std::string s = "load-envelopes";
      for (const auto& id : x->ids) s += " " + id;
      return s;
    }
    if (auto* x = std::get_if<LoadSettings>(&a))
      return "load-settings " + std::to_string(x->account_id);
    if (auto* x = std::get_if<CheckSuppression>(&a)) {
      std::string s = "check-suppression";
      for (const auto& q : x->queries) s += " " + q.queue_id + "/" + q.address;
      return s;
    }
    if (auto* x = std::get_if<Resolve>(&a)) return "resolve " + x->route.dest;
    if (auto* x = std::get_if<Connect>(&a))
      return "connect #" + std::to_string(x->conn) + " " + x->dest;
    if (auto* x = std::get_if<RecordEvents>(&a)) {
      std::string s = "record-events";
      for (const auto& ev : x->events)
        s += " " + ev.queue_id + "/" + ev.recipient + ":" + std::string(core::to_string(ev.event));
      return s;
    }
    if (auto* x = std::get_if<AddSuppression>(&a))
      return "add-suppression " + std::to_string(x->account_id) + " " + x->address;
    if (auto* x = std::get_if<PersistState>(&a)) {
      std::string s = "persist " + x->msg.id;
      for (const auto& r : x->msg.recipients)
        s += " " + r.address + ":" + queue::to_string(r.state);
      if (x->msg.held) s += " held";
      return s;
    }
    if (auto* x = std::get_if<PersistHeld>(&a))
      return std::string(x->held ? "persist-held " : "persist-released ") + x->id;
    if (auto* x = std::get_if<Finish>(&a)) return "finish " + x->id;
    if (auto* x = std::get_if<SpoolBounce>(&a)) {
      std::string s = "spool-bounce " + x->original_id + " to " + x->in.to;
      for (const auto& r : x->in.recipients) s += " " + r.address + (r.expired ? ":expired" : "");
      return s;
    }
    return "?";
  }
};

}  // namespace tern::delivery::test
