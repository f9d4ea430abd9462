// Delivery scheduler: see scheduler.hpp for the model. Structures, chosen so every operation
// is O(log n) (or O(1) amortized) in the number of queued jobs, with no lazy deletion:
//  - jobs_: id -> Entry (the Job, its due time, where it sits). Ids are a private counter, so
//    two jobs of one message and destination stay distinct.
//  - scheduled_: ordered set of (due_ms, id); the begin is the next due job, and a job is
//    erased exactly by its (due, id) key.
//  - by_queue_id_: queue id -> ids of that message's jobs still held (for remove/expedite).
//    A message has one job per destination, so these lists are short.
//  - dests_: destination -> ready jobs as one FIFO list per account (ordered map by account
//    id, a per-destination cursor gives accounts turns), the live ready count and the open
//    connection count. A destination is dropped when it has neither ready jobs nor connections.
//    A ready job keeps its list iterator, so remove() unlinks it in O(1).
//  - wanting_: destinations that may take another connection now (open < ready and open <
//    per-dest limit), ordered, with a cursor: connections_to_open() walks it round robin.
#include "delivery/scheduler.hpp"

#include <algorithm>
#include <list>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

namespace tern::delivery {

namespace {

using JobId = uint64_t;
using AccountQueue = std::list<JobId>;

struct Entry {
  Job job;
  int64_t due_ms = 0;
  bool ready = false;
  AccountQueue::iterator pos;  // valid while ready
};

struct Dest {
  std::map<int64_t, AccountQueue> accounts;  // only accounts with ready jobs here
  std::optional<int64_t> last_account;       // the account served last (round-robin cursor)
  size_t ready = 0;
  size_t open = 0;
};

}  // namespace

struct Scheduler::Impl {
  Limits limits;
  JobId next_id = 1;
  std::unordered_map<JobId, Entry> jobs;
  std::set<std::pair<int64_t, JobId>> scheduled;
  std::unordered_map<std::string, std::vector<JobId>> by_queue_id;
  std::unordered_map<std::string, Dest> dests;
  std::set<std::string> wanting;
  std::optional<std::string> last_dest;  // connections_to_open() round-robin cursor
  size_t total_ready = 0;
  size_t total_open = 0;

  bool wants(const Dest& d) const {
    return d.open < limits.max_connections_per_dest && d.open < d.ready;
  }

  // Keeps wanting_ and dests_ in step with one destination's counts; call after every change.
  void refresh(const std::string& name) {
    auto it = dests.find(name);
    if (it == dests.end()) {
      wanting.erase(name);
      return;
    }
    if (wants(it->second))
      wanting.insert(name);
    else
      wanting.erase(name);
    if (it->second.ready == 0 && it->second.open == 0) dests.erase(it);
  }

  void unindex(const std::string& queue_id, JobId id) {
    auto it = by_queue_id.find(queue_id);
    if (it == by_queue_id.end()) return;
    auto& ids = it->second;
    auto pos = std::find(ids.begin(), ids.end(), id);
    if (pos != ids.end()) {
      *pos = ids.back();
      ids.pop_back();
    }
    if (ids.empty()) by_queue_id.erase(it);
  }

  void make_ready(JobId id, Entry& e) {
    Dest& d = dests[e.job.dest];
    AccountQueue& q = d.accounts[e.job.account_id];
    e.pos = q.insert(q.end(), id);
    e.ready = true;
    ++d.ready;
    ++total_ready;
  }

  // Unlinks a ready job from its destination (counts updated; the caller refreshes).
  void unlink_ready(Entry& e) {
    auto dit = dests.find(e.job.dest);
    Dest& d = dit->second;
    auto ait = d.accounts.find(e.job.account_id);
    ait->second.erase(e.pos);
    if (ait->second.empty()) d.accounts.erase(ait);
    --d.ready;
    --total_ready;
    e.ready = false;
  }

  // Takes a held job out of every structure and returns it to the caller.
  Job hand_out(JobId id) {
    auto it = jobs.find(id);
    Job job = std::move(it->second.job);
    jobs.erase(it);
    unindex(job.queue_id, id);
    return job;
  }
};

Scheduler::Scheduler(Limits limits) : impl_(std::make_unique<Impl>()) { impl_->limits = limits; }
Scheduler::~Scheduler() = default;

void Scheduler::add(Job job, int64_t due_ms) {
  JobId id = impl_->next_id++;
  impl_->by_queue_id[job.queue_id].push_back(id);
  impl_->scheduled.emplace(due_ms, id);
  Entry& e = impl_->jobs[id];
  e.job = std::move(job);
  e.due_ms = due_ms;
}

void Scheduler::tick(int64_t now_ms) {
  auto& s = impl_->scheduled;
  while (!s.empty() && s.begin()->first <= now_ms) {
    JobId id = s.begin()->second;
    s.erase(s.begin());
    Entry& e = impl_->jobs.at(id);
    impl_->make_ready(id, e);
    impl_->refresh(e.job.dest);
  }
}

std::optional<int64_t> Scheduler::next_due_ms() const {
  if (impl_->scheduled.empty()) return std::nullopt;
  return impl_->scheduled.begin()->first;
}

std::vector<std::string> Scheduler::connections_to_open() {
  Impl& m = *impl_;
  std::vector<std::string> out;
  // Each pass of the loop grants one connection to the destination after the cursor, so
  // destinations alternate (one connection each per round) and the cursor carries over to
  // the next call: a destination that missed out this time goes first next time.
  while (m.total_open < m.limits.max_connections && !m.wanting.empty()) {
    auto it = m.last_dest ? m.wanting.upper_bound(*m.last_dest) : m.wanting.begin();
    if (it == m.wanting.end()) it = m.wanting.begin();
    std::string name = *it;
    Dest& d = m.dests.at(name);
    ++d.open;
    ++m.total_open;
    m.last_dest = name;
    m.refresh(name);
    out.push_back(std::move(name));
  }
  return out;
}

std::optional<Job> Scheduler::next_job(const std::string& dest) {
  Impl& m = *impl_;
  auto dit = m.dests.find(dest);
  if (dit == m.dests.end() || dit->second.accounts.empty()) return std::nullopt;
  Dest& d = dit->second;
  auto ait = d.last_account ? d.accounts.upper_bound(*d.last_account) : d.accounts.begin();
  if (ait == d.accounts.end()) ait = d.accounts.begin();
  d.last_account = ait->first;
  JobId id = ait->second.front();
  m.unlink_ready(m.jobs.at(id));
  Job job = m.hand_out(id);
  m.refresh(dest);
  return job;
}

void Scheduler::connection_closed(const std::string& dest) {
  Impl& m = *impl_;
  auto dit = m.dests.find(dest);
  // A close without a matching reservation is a caller bug; ignoring it keeps the counts
  // from wrapping (and the limits honest).
  if (dit == m.dests.end() || dit->second.open == 0) return;
  --dit->second.open;
  --m.total_open;
  m.refresh(dest);
}

std::vector<Job> Scheduler::take_ready(const std::string& dest) {
  Impl& m = *impl_;
  std::vector<Job> out;
  auto dit = m.dests.find(dest);
  if (dit == m.dests.end()) return out;
  Dest& d = dit->second;
  out.reserve(d.ready);
  // Collect first: unlinking erases account queues we would otherwise be iterating.
  std::vector<JobId> ids;
  ids.reserve(d.ready);
  for (auto& [account, q] : d.accounts) ids.insert(ids.end(), q.begin(), q.end());
  for (JobId id : ids) {
    m.unlink_ready(m.jobs.at(id));
    out.push_back(m.hand_out(id));
  }
  m.refresh(dest);
  return out;
}

size_t Scheduler::remove(const std::string& queue_id) {
  Impl& m = *impl_;
  auto it = m.by_queue_id.find(queue_id);
  if (it == m.by_queue_id.end()) return 0;
  std::vector<JobId> ids = std::move(it->second);
  m.by_queue_id.erase(it);
  for (JobId id : ids) {
    auto jit = m.jobs.find(id);
    Entry& e = jit->second;
    if (e.ready) {
      m.unlink_ready(e);
      std::string dest = e.job.dest;
      m.jobs.erase(jit);
      m.refresh(dest);
    } else {
      m.scheduled.erase({e.due_ms, id});
      m.jobs.erase(jit);
    }
  }
  return ids.size();
}

size_t Scheduler::expedite(const std::string& queue_id, int64_t now_ms) {
  Impl& m = *impl_;
  size_t n = 0;
  auto bring_forward = [&](JobId id) {
    Entry& e = m.jobs.at(id);
    if (e.ready) return;
    ++n;
    if (e.due_ms <= now_ms) return;
    m.scheduled.erase({e.due_ms, id});
    e.due_ms = now_ms;
    m.scheduled.emplace(now_ms, id);
  };
  if (queue_id.empty()) {
    // Every scheduled job: rebuild the set once instead of n erase/insert pairs.
    std::set<std::pair<int64_t, JobId>> moved;
    for (auto [due, id] : m.scheduled) {
      ++n;
      int64_t d = std::min(due, now_ms);
      m.jobs.at(id).due_ms = d;
      moved.emplace_hint(moved.end(), d, id);
    }
    m.scheduled = std::move(moved);
    return n;
  }
  auto it = m.by_queue_id.find(queue_id);
  if (it == m.by_queue_id.end()) return 0;
  for (JobId id : it->second) bring_forward(id);
  return n;
}

Scheduler::Stats Scheduler::stats() const {
  Stats s;
  s.scheduled = impl_->scheduled.size();
  s.ready = impl_->total_ready;
  s.connections = impl_->total_open;
  s.destinations = impl_->dests.size();
  return s;
}

size_t Scheduler::connections(const std::string& dest) const {
  auto it = impl_->dests.find(dest);
  return it == impl_->dests.end() ? 0 : it->second.open;
}

}  // namespace tern::delivery
