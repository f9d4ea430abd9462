// The engine's inputs, activation (index → envelopes in memory), scheduling and connections.
// Outcomes are in engine_outcomes.cpp, operator commands in engine_commands.cpp.
#include "delivery/engine.hpp"

#include <algorithm>
#include <limits>

#include "core/address.hpp"

namespace tern::delivery {

namespace {

std::string domain_of(const std::string& addr) {
  auto at = addr.rfind('@');
  return core::to_lower(at == std::string::npos ? std::string_view{}
                                                : std::string_view(addr).substr(at + 1));
}

}  // namespace

Engine::Engine(EngineConfig cfg, const core::Clock& clock)
    : cfg_(std::move(cfg)),
      clock_(clock),
      sched_(cfg_.limits),
      settings_(cfg_.settings_ttl_ms, cfg_.settings_retry_ms),
      seed_(static_cast<uint64_t>(clock.now_ms())) {
  if (cfg_.max_active_messages == 0) cfg_.max_active_messages = 1;
  if (cfg_.load_batch == 0) cfg_.load_batch = 1;
}

std::vector<Action> Engine::take_actions() {
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

Counters Engine::counters() const {
  Counters c = c_;
  c.queued_messages = index_.size();
  c.active_messages = index_.active_count();
  return c;
}

std::optional<int64_t> Engine::next_wakeup_ms() const {
  int64_t at = std::numeric_limits<int64_t>::max();
  if (!events_.empty()) at = std::min(at, events_due_);
  if (!stopped_) {
    if (auto d = sched_.next_due_ms()) at = std::min(at, *d);
    if (can_load())
      if (auto d = index_.next_due_ms()) at = std::min(at, *d);
    for (const auto& [dest, until] : backoff_) at = std::min(at, until);
  }
  if (at == std::numeric_limits<int64_t>::max()) return std::nullopt;
  return at;
}

// Loads go in batches: while envelopes are in memory, wait until a batch's worth of room is
// free (one pool task per batch, not one per finished message).
bool Engine::can_load() const {
  const size_t active = index_.active_count();
  if (active >= cfg_.max_active_messages) return false;
  const size_t batch = std::min(cfg_.load_batch, std::max<size_t>(1, cfg_.max_active_messages / 4));
  return active == 0 || cfg_.max_active_messages - active >= batch;
}

// ------------------------------------------------------------------ messages in

void Engine::start(const std::vector<queue::QueueEntry>& recovered) {
  index_.add_all(recovered);  // one pass; those with nothing left to deliver are skipped
  pump();
}

void Engine::submitted(queue::QueuedMessage m, std::shared_ptr<const ContentSource> content,
                       std::string error, bool notice) {
  if (notice) ++c_.bounce_notices;
  queue::QueueEntry e = queue::summarize(m);
  if (e.due_ms == std::numeric_limits<int64_t>::max()) return;  // nothing left to deliver
  if (!index_.add(e)) return;  // known already (start() and a late submitted() may overlap)
  if (e.held || stopped_) return;
  if (index_.active_count() >= cfg_.max_active_messages) {
    pump();  // it waits in the index; its envelope is loaded again when there is room
    return;
  }
  index_.move(m.id, QueueIndex::Where::loading);
  std::vector<SuppressionQuery> queries;
  activate(std::move(m), std::move(content), std::move(error), queries);
  if (!queries.empty()) actions_.push_back(CheckSuppression{std::move(queries)});
  pump();
}

void Engine::activate_due(int64_t now) {
  if (stopped_) return;
  while (can_load()) {
    size_t room = cfg_.max_active_messages - index_.active_count();
    auto ids = index_.take_due(now, std::min(room, cfg_.load_batch));
    if (ids.empty()) break;
    actions_.push_back(LoadEnvelopes{std::move(ids)});
  }
}

void Engine::envelopes_loaded(std::vector<LoadedEnvelope> batch) {
  std::vector<SuppressionQuery> queries;
  for (auto& l : batch) {
    auto* e = index_.find(l.id);
    if (!e || e->where != QueueIndex::Where::loading) continue;  // deleted or held meanwhile
    if (!l.msg) {
      index_.erase(l.id);  // no longer in the spool: nothing to deliver
      continue;
    }
    activate(std::move(*l.msg), std::move(l.content), std::move(l.error), queries);
  }
  if (!queries.empty()) actions_.push_back(CheckSuppression{std::move(queries)});
  pump();
}

void Engine::activate(queue::QueuedMessage m, std::shared_ptr<const ContentSource> content,
                      std::string error, std::vector<SuppressionQuery>& queries) {
  const std::string id = m.id;
  index_.move(id, QueueIndex::Where::active);
  auto [it, fresh] = active_.try_emplace(id);
  Active& a = it->second;
  a.m = std::move(m);
  a.m.held = false;  // the index's word counts: it was not held when it was asked for
  a.busy.assign(a.m.recipients.size(), 0);
  a.inflight.assign(a.m.recipients.size(), 0);
  a.content = std::move(content);
  a.content_error = std::move(error);
  if (a.m.account_id != 0) {
    for (size_t i = 0; i < a.m.recipients.size(); ++i) {
      const auto& r = a.m.recipients[i];
      if (r.state != queue::RcptState::pending || r.attempts != 0) continue;
      queries.push_back({id, static_cast<uint32_t>(i), a.m.account_id, r.address, false});
      a.checking = true;
    }
  }
  if (!a.checking) advance(id);
}

void Engine::suppression_checked(std::vector<SuppressionQuery> answers) {
  std::vector<std::string> ids;
  std::unordered_map<std::string, bool> changed;
  for (const auto& q : answers) {
    auto it = active_.find(q.queue_id);
    if (it == active_.end()) continue;
    if (!changed.count(q.queue_id)) {
      changed[q.queue_id] = false;
      ids.push_back(q.queue_id);
    }
    Active& a = it->second;
    if (!q.suppressed || q.rcpt >= a.m.recipients.size()) continue;
    auto& r = a.m.recipients[q.rcpt];
    if (r.state != queue::RcptState::pending || r.attempts != 0 || a.busy[q.rcpt]) continue;
    auto o = core::DeliveryOutcome::local(
        core::DeliveryOutcome::perm, "5.1.1",
        "recipient is on the account's suppression list after a hard bounce "
        "(tern suppression remove allows it again)");
    r.state = queue::RcptState::rejected;
    r.attempts = 1;
    r.last_reply = o.summary();
    record(a.m, r, o);
    ++c_.rejected;
    changed[q.queue_id] = true;
  }
  for (const auto& id : ids) {
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    it->second.checking = false;
    const bool all_final =
        std::all_of(it->second.m.recipients.begin(), it->second.m.recipients.end(),
                    [](const auto& r) { return queue::is_final(r.state); });
    if (changed[id] && !all_final) persist(it->second);
    advance(id);
  }
  pump();
}

void Engine::settings_loaded(int64_t account_id, core::Result<store::AccountSettings> r) {
  const bool usable = settings_.loaded(account_id, std::move(r), now());
  auto w = settings_wait_.find(account_id);
  if (w == settings_wait_.end()) return pump();
  std::vector<std::string> ids = std::move(w->second);
  settings_wait_.erase(w);
  for (const auto& id : ids) {
    auto it = active_.find(id);
    if (it == active_.end() || !it->second.parked) continue;
    it->second.parked = false;
    if (usable) {
      advance(id);
    } else if (std::none_of(it->second.busy.begin(), it->second.busy.end(),
                            [](uint8_t b) { return b != 0; })) {
      deactivate(id, now() + cfg_.settings_retry_ms);  // tried again later, unchanged
    }
  }
  pump();
}

// ------------------------------------------------------------------ scheduling

void Engine::advance(const std::string& id) {
  auto it = active_.find(id);
  if (it == active_.end() || it->second.checking) return;
  if (!schedule(id)) return;
  review(id);
}

bool Engine::schedule(const std::string& id) {
  auto it = active_.find(id);
  if (it == active_.end()) return false;
  Active& a = it->second;
  if (a.m.held || a.parked) return !a.parked;
  auto* e = index_.find(id);
  const int64_t t = now();
  const bool expedite = e && e->expedite;
  const bool any = std::any_of(a.m.recipients.begin(), a.m.recipients.end(), [&](const auto& r) {
    const size_t i = static_cast<size_t>(&r - a.m.recipients.data());
    return !queue::is_final(r.state) && !a.busy[i] && (expedite || r.next_attempt_ms <= t);
  });
  if (!any) return true;  // nothing to send now: no settings needed
  bool need = false;
  const store::AccountSettings* s = settings_.get(a.m.account_id, t, need);
  if (need) actions_.push_back(LoadSettings{a.m.account_id});
  if (!s) {
    if (settings_.loading(a.m.account_id)) {
      a.parked = true;
      settings_wait_[a.m.account_id].push_back(id);
    } else if (std::none_of(a.busy.begin(), a.busy.end(), [](uint8_t b) { return b != 0; })) {
      deactivate(id, t + cfg_.settings_retry_ms);  // the last load failed: try again later
    }
    return false;
  }
  if (e) e->expedite = false;
  std::unordered_map<std::string, Job> jobs;
  for (size_t i = 0; i < a.m.recipients.size(); ++i) {
    const auto& r = a.m.recipients[i];
    if (queue::is_final(r.state) || a.busy[i]) continue;
    if (!expedite && r.next_attempt_ms > t) continue;
    Route rt = route_for(a.m.account_id, *s, cfg_.smarthost, domain_of(r.address), cfg_.mx_port);
    auto& j = jobs[rt.dest];
    if (j.rcpts.empty()) {
      j.queue_id = id;
      j.account_id = a.m.account_id;
      j.dest = rt.dest;
    }
    j.rcpts.push_back(static_cast<uint32_t>(i));
    a.busy[i] = 1;
    routes_[rt.dest] = std::move(rt);
  }
  for (auto& [dest, j] : jobs) sched_.add(std::move(j), t);
  return true;
}

void Engine::review(const std::string& id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Active& a = it->second;
  if (a.checking || a.parked) return;
  if (std::any_of(a.busy.begin(), a.busy.end(), [](uint8_t b) { return b != 0; })) return;
  int64_t due = std::numeric_limits<int64_t>::max();
  for (const auto& r : a.m.recipients)
    if (!queue::is_final(r.state)) due = std::min(due, std::max<int64_t>(0, r.next_attempt_ms));
  if (due == std::numeric_limits<int64_t>::max()) {  // every recipient is final: done
    actions_.push_back(Finish{id});
    active_.erase(it);
    index_.erase(id);
    if (index_.size() == 0) {  // drained: what grew with the queue is given back
      index_.shrink_if_empty();
      std::unordered_map<std::string, Active>().swap(active_);
      std::unordered_map<std::string, Route>().swap(routes_);
      std::unordered_map<std::string, int64_t>().swap(target_until_);
    }
    return;
  }
  if (a.m.held) {
    active_.erase(it);
    index_.move(id, QueueIndex::Where::held);
    return;
  }
  auto* e = index_.find(id);
  if (e && e->expedite) {  // `queue retry` while it was busy: everything is due now
    schedule(id);
    auto again = active_.find(id);
    if (again != active_.end() && std::any_of(again->second.busy.begin(), again->second.busy.end(),
                                              [](uint8_t b) { return b != 0; }))
      return;
  }
  deactivate(id, due);
}

void Engine::deactivate(const std::string& id, int64_t due_ms) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  const bool held = it->second.m.held;
  active_.erase(it);
  index_.move(id, held ? QueueIndex::Where::held : QueueIndex::Where::waiting, due_ms);
}

// ------------------------------------------------------------------ connections

void Engine::tick() { pump(); }

void Engine::pump() {
  const int64_t t = now();
  if (!events_.empty() && (t >= events_due_ || stopped_)) flush_events();
  if (stopped_) return;
  std::erase_if(backoff_, [t](const auto& kv) { return kv.second <= t; });
  activate_due(t);
  sched_.tick(t);
  for (auto& dest : sched_.connections_to_open()) open(dest, t);
}

void Engine::open(const std::string& dest, int64_t t) {
  if (auto b = backoff_.find(dest); b != backoff_.end() && t < b->second) {
    sched_.connection_closed(dest);
    return;
  }
  if (auto tu = target_until_.find(dest); tu != target_until_.end()) {
    if (t < tu->second) return connect(dest);
    target_until_.erase(tu);  // stale: look the hosts up again
  }
  if (resolving_[dest]++ > 0) return;  // a look-up is under way; it connects for all waiting
  auto rt = routes_.find(dest);
  if (rt == routes_.end()) {  // cannot happen: every job's dest got a route in schedule()
    resolving_.erase(dest);
    sched_.connection_closed(dest);
    return;
  }
  actions_.push_back(Resolve{rt->second, ++seed_});
}

void Engine::connect(const std::string& dest) {
  const uint64_t id = next_conn_++;
  conns_[id].dest = dest;
  ++c_.connections;
  actions_.push_back(Connect{id, dest});
}

void Engine::resolved(const std::string& dest, std::optional<core::DeliveryOutcome> failure) {
  size_t n = 0;
  if (auto w = resolving_.find(dest); w != resolving_.end()) {
    n = w->second;
    resolving_.erase(w);
  }
  if (!failure) {
    target_until_[dest] = now() + cfg_.target_ttl_ms;
    for (size_t i = 0; i < n; ++i) {
      if (stopped_) {
        sched_.connection_closed(dest);
        continue;
      }
      connect(dest);
    }
    return pump();
  }
  for (size_t i = 0; i < n; ++i) sched_.connection_closed(dest);
  fail_destination(dest, *failure);
  pump();
}

std::optional<Handout> Engine::next_message(uint64_t conn) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return std::nullopt;
  while (!stopped_ && c->second.handed < cfg_.max_messages_per_connection) {
    auto job = sched_.next_job(c->second.dest);
    if (!job) return std::nullopt;
    auto it = active_.find(job->queue_id);
    if (it == active_.end()) continue;  // deleted
    Active& a = it->second;
    if (!a.content) {
      std::vector<core::DeliveryOutcome> outs(
          job->rcpts.size(),
          core::DeliveryOutcome::local(
              core::DeliveryOutcome::temp, "4.3.0",
              "spool: " + (a.content_error.empty() ? std::string("content unavailable")
                                                   : a.content_error)));
      apply(*job, outs, false);
      continue;
    }
    Handout h;
    h.handle = next_handle_++;
    h.queue_id = a.m.id;
    h.sender = a.m.sender;
    for (uint32_t i : job->rcpts) {
      h.recipients.push_back(a.m.recipients[i].address);
      a.inflight[i] = 1;
    }
    h.smtputf8 = a.m.smtputf8;
    h.eightbit = a.m.eightbit;
    h.content = a.content;
    c->second.jobs.emplace(h.handle, std::move(*job));
    ++c->second.handed;
    return h;
  }
  return std::nullopt;
}

void Engine::message_done(uint64_t conn, uint64_t handle,
                          const std::vector<core::DeliveryOutcome>& outs) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  auto j = c->second.jobs.find(handle);
  if (j == c->second.jobs.end()) return;
  Job job = std::move(j->second);
  c->second.jobs.erase(j);
  apply(job, outs, true);
  // Room may have opened for more envelopes; connections are opened when this one ends.
  activate_due(now());
}

void Engine::connection_done(uint64_t conn, std::optional<core::DeliveryOutcome> failure) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  Conn cn = std::move(c->second);
  conns_.erase(c);
  sched_.connection_closed(cn.dest);
  // Jobs still held (cannot happen by the driver's contract) are settled as a broken
  // connection: deferred.
  for (auto& [handle, job] : cn.jobs) {
    std::vector<core::DeliveryOutcome> outs(
        job.rcpts.size(), core::DeliveryOutcome::network("connection ended", core::Phase::data,
                                                         failure ? failure->mx_host : ""));
    apply(job, outs, true);
  }
  if (failure && cn.handed == 0) {
    // Nothing could be sent: every endpoint failed. When no other connection to this
    // destination is alive, the destination is down: its ready jobs all get this outcome (one
    // attempt each, not one connection per message), and it rests before a new try.
    target_until_.erase(cn.dest);  // look the hosts up again next time
    if (sched_.connections(cn.dest) == 0) fail_destination(cn.dest, *failure);
    backoff_[cn.dest] = now() + cfg_.dead_backoff_ms;
  }
  pump();
}

void Engine::fail_destination(const std::string& dest, const core::DeliveryOutcome& o) {
  for (auto& job : sched_.take_ready(dest)) {
    std::vector<core::DeliveryOutcome> outs(job.rcpts.size(), o);
    apply(job, outs, false);
  }
}

void Engine::stop() {
  stopped_ = true;
  flush_events();
}

}  // namespace tern::delivery
