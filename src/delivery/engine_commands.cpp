// Operator commands on the engine (tern queue retry|hold|release|delete). Each names one
// message or every message ("" = all); the reply counts the messages it changed.
//  - retry: every recipient not final is due now (also the ones deferred for hours), and
//    destinations resting after a failed connection try again with fresh look-ups.
//  - hold: nothing new starts (jobs in flight finish); the held flag is written to the spool.
//  - release: the message waits for its next due time again (now, if it was due).
//  - delete: the message is finished (DONE) without further attempts; outcomes of jobs in
//    flight are dropped.
#include <algorithm>

#include "delivery/engine.hpp"

namespace tern::delivery {

ControlReply Engine::command(const Command& c) {
  ControlReply rep;
  const int64_t t = now();
  if (!c.id.empty() && !index_.find(c.id)) {
    rep.message = "no such message in the queue: " + c.id;
    return rep;
  }
  std::vector<std::string> ids = c.id.empty() ? index_.ids() : std::vector<std::string>{c.id};
  if (c.kind == Command::Kind::retry) {
    // The operator says "now": destinations resting after a failed connection try again too,
    // with fresh look-ups.
    backoff_.clear();
    target_until_.clear();
  }
  for (const auto& id : ids) {
    bool changed = false;
    switch (c.kind) {
      case Command::Kind::retry:
        changed = retry_one(id, t);
        break;
      case Command::Kind::hold:
        changed = hold_one(id);
        break;
      case Command::Kind::release:
        changed = release_one(id, t);
        break;
      case Command::Kind::remove:
        changed = remove_one(id);
        break;
    }
    if (changed) ++rep.count;
  }
  rep.ok = true;
  pump();
  return rep;
}

bool Engine::retry_one(const std::string& id, int64_t t) {
  auto* e = index_.find(id);
  if (!e || e->where == QueueIndex::Where::held) return false;
  e->expedite = true;
  if (e->where == QueueIndex::Where::waiting) {
    index_.move(id, QueueIndex::Where::waiting, std::min<int64_t>(e->due_ms, t));
    index_.find(id)->expedite = true;
  } else if (e->where == QueueIndex::Where::active) {
    sched_.expedite(id, t);
    review(id);  // nothing in flight: schedule its recipients now
  }
  return true;
}

bool Engine::hold_one(const std::string& id) {
  auto* e = index_.find(id);
  if (!e || e->where == QueueIndex::Where::held) return false;
  if (e->where == QueueIndex::Where::active) {
    Active& a = active_.at(id);
    a.m.held = true;
    sched_.remove(id);
    a.busy = a.inflight;  // jobs in flight finish; nothing new starts
    persist(a);
    review(id);  // nothing in flight: it leaves memory, held
    return true;
  }
  index_.move(id, QueueIndex::Where::held);  // a load under way is dropped when it arrives
  actions_.push_back(PersistHeld{id, true});
  return true;
}

bool Engine::release_one(const std::string& id, int64_t) {
  auto* e = index_.find(id);
  if (!e) return false;
  if (e->where == QueueIndex::Where::active) {
    Active& a = active_.at(id);
    if (!a.m.held) return false;
    a.m.held = false;
    persist(a);
    advance(id);
    return true;
  }
  if (e->where != QueueIndex::Where::held) return false;
  actions_.push_back(PersistHeld{id, false});
  // Due when it was due before the hold (now, if that has passed).
  index_.move(id, QueueIndex::Where::waiting, e->due_ms);
  return true;
}

bool Engine::remove_one(const std::string& id) {
  if (!index_.find(id)) return false;
  sched_.remove(id);
  active_.erase(id);  // outcomes of jobs in flight find nothing and are dropped
  index_.erase(id);
  for (auto& [account, ids] : settings_wait_) std::erase(ids, id);
  actions_.push_back(Finish{id});
  return true;
}

}  // namespace tern::delivery
