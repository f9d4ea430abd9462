// The webhook scheduling policy (SPEC §5, issue 5): which outbox batches are claimed, which
// start now, what a POST's outcome does to each item, and when to look at the outbox again.
// Sans-IO: the driver (net/webhook_sender) calls Outbox::due() for claim_budget() batches,
// hands them to offer(), starts the POSTs it returns, and reports each end with finished().
//
// Decisions (every one is tested in tests/unit/events/webhook_policy_test.cpp):
//  - Concurrency: at most max_concurrent POSTs run; at most one per URL host (a slow or dead
//    receiver holds one slot, never more). A batch for a busy host waits in that host's line
//    (at most max_waiting_per_host batches); a batch beyond that is parked: forgotten without
//    a mark, so the outbox lease (store::kOutboxLeaseMs) hands it out again later, unchanged.
//    So that this stays the exception: the URLs of hosts that cannot take another batch (busy,
//    line full: full_urls()) are passed to Outbox::due() and not claimed at all. Without that,
//    a backlog over several hosts (oldest group first) kept claiming the full hosts' batches
//    and parking them for a whole lease.
//    Fairness: waiting batches do not take POST slots, and a pump claims again (up to
//    kClaimRounds times) while slots are free, so one tenant's host with many due batches
//    cannot fill every slot and starve another tenant's reports. (Before issue 11 waiting
//    batches counted against max_concurrent; a dead host with 8 due URLs took every slot.)
//  - Held items: an item id is held from offer() until its marks are stored (marked(), or
//    finished() = ended() + marked()); a batch handed out again while its items are held
//    (lease ran out in flight, or a claim that ran while the marks were on their way) loses
//    those items, so this process never sends an item twice. ended() frees the POST's host
//    (or hands it its next waiting batch) at once: the host does not wait for the marks.
//  - Store rounds (the driver's store work is done in rounds on a store thread, one round at a
//    time): the marks of every POST that ended since the last round go out together
//    (MarkCoalescer: all sent items of one HTTP status in one mark, failures per next attempt
//    time, reply and status), and Outbox::next_due_ms() is read only when due() returned fewer
//    batches than asked (look_for_next_due; else more is due now).
//  - Outcome: 2xx → sent. Anything else (4xx, 5xx, timeout, connection error) → retried after
//    webhook_backoff_ms(attempts + 1), by each item's own attempt count; given up (state
//    failed) when the item is older than max_age_ms, or at once when the failure is permanent
//    (malformed URL, target refused by the SSRF policy).
//  - Wake-up: with a store error, after kRetryOnStoreErrorMs; with every slot running, none
//    (a finishing POST pumps); else at the outbox's next due time, never sooner than
//    kMinSleepMs from now (no spinning) and never later than kMaxSleepMs from now (due times
//    are wall-clock: after the clock jumps back, a due time an hour "ahead" is looked at again
//    within a minute instead of sleeping the hour). With idle_poll_ms (several nodes on one
//    outbox), never later than that either, and also when nothing is pending.
//
// Why the outbox interface stays in store/outbox.hpp: every backend (SQLite, memory, soon
// PostgreSQL) implements it inside store/, and moving it here would make store depend on
// events, which depends on store (OutboxItem, report). This room only uses the interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store/outbox.hpp"

namespace tern::events {

using WebhookBatch = std::vector<store::OutboxItem>;

constexpr int64_t kRetryOnStoreErrorMs = 5'000;
constexpr int64_t kMinSleepMs = 200;
constexpr int64_t kMaxSleepMs = 60'000;
constexpr int kClaimRounds = 3;

// The backoff after the n-th failed attempt (n >= 1; n < 1 counts as 1): 30 s, 1 m, 2 m, 5 m,
// 10 m, 20 m, 30 m, then 1 h.
int64_t webhook_backoff_ms(int failed_attempts);

// The key of the one-POST-at-a-time rule: the URL's host (lower case), or the URL itself
// when it does not parse (it is then given up by the HTTP client as permanent).
std::string webhook_host(const std::string& url);

// What a POST came to, as the driver saw it.
struct PostOutcome {
  int status = 0;          // final HTTP status; 0 = none (timeout, connection, local error)
  bool permanent = false;  // retrying cannot help (bad URL, refused target)
  bool ok() const { return status >= 200 && status < 300; }
};

// What to mark: sent items, items to retry grouped by their next attempt time, given-up items.
struct Settlement {
  std::vector<int64_t> sent;
  std::map<int64_t, std::vector<int64_t>> retry_at;  // next_attempt_ms → ids
  std::vector<int64_t> given_up;
};

// Per item: its own attempt count decides the backoff, its own age the give-up.
Settlement settle(const WebhookBatch& batch, const PostOutcome& outcome, int64_t now_ms,
                  int64_t max_age_ms);

struct WebhookPolicyConfig {
  size_t max_concurrent = 8;        // POSTs in flight at most (0 counts as 1)
  size_t batch = 50;                // items per POST at most (0 counts as 1)
  size_t max_waiting_per_host = 2;  // batches waiting for a busy host; more are parked
  // > 0 (a region): never sleep longer than this (at least kMinSleepMs), also with nothing
  // pending. Other nodes enqueue without poking this one, and a dead node's claimed items come
  // due when its lease runs out: a node that waited for a poke would never send them.
  int64_t idle_poll_ms = 0;
};

struct StartPost {
  WebhookBatch batch;
  std::string host;
};

// Whether a store round should read Outbox::next_due_ms() after due() returned `got` of
// `asked` batches: only when the outbox ran dry (got < asked). Otherwise more is due now (the
// next round claims it), or nothing was asked (every slot runs: a finishing POST asks again;
// or the pump's claim rounds are spent: wake_at's shortest sleep).
bool look_for_next_due(size_t asked, size_t got);

// One Outbox mark call: sent (mark_sent(ids, at_ms, code)) or failed (mark_failed(ids, at_ms =
// next attempt, error, give_up, code)).
struct MarkGroup {
  bool sent = false;
  bool give_up = false;
  int64_t at_ms = 0;
  int code = 0;
  std::string error;
  std::vector<int64_t> ids;
};

// Coalesces the settlements of the POSTs that ended since the last store round into as few
// mark calls as possible: the sent items of one HTTP status in one group (at the latest end
// time: mark_sent's time is when they went out, within one round of each other); retried items
// per (next attempt, reply, status); given-up items per (reply, status) at the latest end time.
// Every id added comes out in exactly one group; take() empties it. put_back() returns groups
// take() gave out whose store failed (they go out again with the next take(), merged with what
// was added meanwhile under the same key).
class MarkCoalescer {
 public:
  void add(const Settlement& s, int64_t now_ms, const std::string& reply, int code);
  void put_back(std::vector<MarkGroup> groups);
  bool empty() const { return groups_.empty(); }
  size_t items() const { return items_; }
  std::vector<MarkGroup> take();

 private:
  // (kind: 0 sent, 1 retry, 2 given up; next attempt (retry only); code; reply (not for sent))
  using Key = std::tuple<int, int64_t, int, std::string>;
  void put(Key key, bool sent, bool give_up, int64_t at, int code, const std::string& error,
           const std::vector<int64_t>& ids);
  std::map<Key, MarkGroup> groups_;
  size_t items_ = 0;
};

class WebhookScheduler {
 public:
  explicit WebhookScheduler(WebhookPolicyConfig cfg);

  // A pump starts: resets the claim rounds.
  void begin_pump() { rounds_ = 0; }
  // How many batches to ask Outbox::due() for now (max_per_batch = config().batch); 0 = do
  // not claim (every slot running, or kClaimRounds claims in this pump).
  size_t claim_budget() const;
  // Claimed batches, oldest first: the POSTs to start now (their hosts are now busy). Counts
  // one claim round.
  std::vector<StartPost> offer(std::vector<WebhookBatch> claimed);
  // A POST of `host` ended: frees the host (or its slot) and returns the host's next waiting
  // batch to start now, if any. Its items stay held until marked().
  std::optional<StartPost> ended(const StartPost& post);
  // The marks of these items are stored: they are no longer held.
  void marked(const std::vector<int64_t>& ids);
  // ended() and marked() at once (the driver marked the POST's items before).
  std::optional<StartPost> finished(const StartPost& post);
  // An item of a started batch was settled without its POST (it could not be rendered and was
  // given up): it is no longer held.
  void settled_apart(int64_t id) { held_.erase(id); }
  // When to pump again. next_due_ms: Outbox::next_due_ms() (0 = nothing pending), nullopt when
  // it failed; store_error: due() failed in this pump. nullopt = no timer.
  std::optional<int64_t> wake_at(int64_t now_ms, std::optional<int64_t> next_due_ms,
                                 bool store_error) const;

  // URLs not to claim now: those of the running and waiting batches of every host that cannot
  // take another batch (busy, its line full), sorted, each once. A batch of another URL of
  // such a host may still be claimed and parked (rare: one host, several URLs).
  std::vector<std::string> full_urls() const;

  size_t running() const { return running_; }
  size_t waiting() const { return waiting_count_; }
  uint64_t parked() const { return parked_; }  // batches parked since start
  bool held(int64_t id) const { return held_.count(id) > 0; }
  const WebhookPolicyConfig& config() const { return cfg_; }

 private:
  WebhookPolicyConfig cfg_;
  int rounds_ = 0;
  size_t running_ = 0;
  size_t waiting_count_ = 0;
  uint64_t parked_ = 0;
  std::unordered_set<int64_t> held_;
  std::unordered_map<std::string, std::string> busy_hosts_;  // host → URL of its running POST
  std::unordered_map<std::string, std::deque<WebhookBatch>> waiting_;
};

}  // namespace tern::events
