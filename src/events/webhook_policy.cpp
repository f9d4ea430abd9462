// The webhook scheduling policy (see webhook_policy.hpp for the decisions).
//
// Invariants of WebhookScheduler:
//  - running_ == number of busy hosts; running_ <= max_concurrent.
//  - waiting_count_ == sum of the waiting lines; each line <= max_waiting_per_host, and only a
//    busy host has a line.
//  - every item of a running or waiting batch, or of an ended batch whose marks are not stored
//    yet (ended() until marked()), is in held_, and nothing else is.
#include "events/webhook_policy.hpp"

#include <algorithm>

#include "report/target_policy.hpp"

namespace tern::events {

int64_t webhook_backoff_ms(int failed_attempts) {
  static constexpr int64_t kSteps[] = {30'000,  60'000,    120'000,  300'000,
                                       600'000, 1'200'000, 1'800'000};
  constexpr int kN = static_cast<int>(sizeof kSteps / sizeof kSteps[0]);
  if (failed_attempts < 1) failed_attempts = 1;
  return failed_attempts <= kN ? kSteps[failed_attempts - 1] : 3'600'000;
}

std::string webhook_host(const std::string& url) {
  auto t = report::parse_url(url);
  return t ? t->host : url;
}

Settlement settle(const WebhookBatch& batch, const PostOutcome& outcome, int64_t now_ms,
                  int64_t max_age_ms) {
  Settlement s;
  for (const auto& i : batch) {
    if (outcome.ok())
      s.sent.push_back(i.id);
    else if (outcome.permanent || now_ms - i.created_ms >= max_age_ms)
      s.given_up.push_back(i.id);
    else
      s.retry_at[now_ms + webhook_backoff_ms(i.attempts + 1)].push_back(i.id);
  }
  return s;
}

WebhookScheduler::WebhookScheduler(WebhookPolicyConfig cfg) : cfg_(cfg) {
  if (cfg_.max_concurrent == 0) cfg_.max_concurrent = 1;
  if (cfg_.batch == 0) cfg_.batch = 1;
}

size_t WebhookScheduler::claim_budget() const {
  if (rounds_ >= kClaimRounds || running_ >= cfg_.max_concurrent) return 0;
  return cfg_.max_concurrent - running_;
}

std::vector<StartPost> WebhookScheduler::offer(std::vector<WebhookBatch> claimed) {
  ++rounds_;
  std::vector<StartPost> start;
  for (auto& b : claimed) {
    // Items still ours from an earlier offer stay with that batch; the rest may go.
    std::erase_if(b, [&](const store::OutboxItem& i) { return held_.count(i.id) > 0; });
    if (b.empty()) continue;
    std::string host = webhook_host(b.front().url);
    if (!busy_hosts_.count(host) && running_ < cfg_.max_concurrent) {
      for (const auto& i : b) held_.insert(i.id);
      busy_hosts_.emplace(host, b.front().url);
      ++running_;
      start.push_back({std::move(b), std::move(host)});
      continue;
    }
    auto& line = waiting_[host];
    if (busy_hosts_.count(host) && line.size() < cfg_.max_waiting_per_host) {
      for (const auto& i : b) held_.insert(i.id);
      line.push_back(std::move(b));
      ++waiting_count_;
      continue;
    }
    // Parked: not held, not marked; the outbox lease hands it out again.
    if (line.empty()) waiting_.erase(host);
    ++parked_;
  }
  return start;
}

bool look_for_next_due(size_t asked, size_t got) { return asked > 0 && got < asked; }

void MarkCoalescer::put(Key key, bool sent, bool give_up, int64_t at, int code,
                        const std::string& error, const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  auto [it, fresh] = groups_.try_emplace(std::move(key));
  MarkGroup& g = it->second;
  if (fresh) {
    g.sent = sent;
    g.give_up = give_up;
    g.code = code;
    g.error = sent ? std::string() : error;
    g.at_ms = at;
  } else if (sent || give_up) {
    g.at_ms = std::max(g.at_ms, at);
  }
  g.ids.insert(g.ids.end(), ids.begin(), ids.end());
  items_ += ids.size();
}

void MarkCoalescer::add(const Settlement& s, int64_t now_ms, const std::string& reply, int code) {
  put({0, 0, code, std::string()}, true, false, now_ms, code, reply, s.sent);
  for (const auto& [next, ids] : s.retry_at)
    put({1, next, code, reply}, false, false, next, code, reply, ids);
  put({2, 0, code, reply}, false, true, now_ms, code, reply, s.given_up);
}

void MarkCoalescer::put_back(std::vector<MarkGroup> groups) {
  for (auto& g : groups) {
    if (g.sent)
      put({0, 0, g.code, std::string()}, true, false, g.at_ms, g.code, g.error, g.ids);
    else if (g.give_up)
      put({2, 0, g.code, g.error}, false, true, g.at_ms, g.code, g.error, g.ids);
    else
      put({1, g.at_ms, g.code, g.error}, false, false, g.at_ms, g.code, g.error, g.ids);
  }
}

std::vector<MarkGroup> MarkCoalescer::take() {
  std::vector<MarkGroup> out;
  out.reserve(groups_.size());
  for (auto& [key, g] : groups_) out.push_back(std::move(g));
  groups_.clear();
  items_ = 0;
  return out;
}

std::optional<StartPost> WebhookScheduler::finished(const StartPost& post) {
  auto next = ended(post);
  for (const auto& i : post.batch) held_.erase(i.id);
  return next;
}

void WebhookScheduler::marked(const std::vector<int64_t>& ids) {
  for (int64_t id : ids) held_.erase(id);
}

std::optional<StartPost> WebhookScheduler::ended(const StartPost& post) {
  auto w = waiting_.find(post.host);
  if (w != waiting_.end() && !w->second.empty()) {
    StartPost next{std::move(w->second.front()), post.host};
    w->second.pop_front();
    busy_hosts_[post.host] = next.batch.front().url;
    --waiting_count_;
    if (w->second.empty()) waiting_.erase(w);
    return next;  // the host stays busy, the slot stays taken
  }
  if (w != waiting_.end()) waiting_.erase(w);
  busy_hosts_.erase(post.host);
  --running_;
  return std::nullopt;
}

std::vector<std::string> WebhookScheduler::full_urls() const {
  std::vector<std::string> out;
  for (const auto& [host, url] : busy_hosts_) {
    auto w = waiting_.find(host);
    const size_t line = w == waiting_.end() ? 0 : w->second.size();
    if (line < cfg_.max_waiting_per_host) continue;
    out.push_back(url);
    if (w != waiting_.end())
      for (const auto& b : w->second) out.push_back(b.front().url);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<int64_t> WebhookScheduler::wake_at(int64_t now_ms, std::optional<int64_t> next_due_ms,
                                                 bool store_error) const {
  if (store_error) return now_ms + kRetryOnStoreErrorMs;
  if (running_ >= cfg_.max_concurrent) return std::nullopt;  // a finishing POST pumps
  if (!next_due_ms) return now_ms + kRetryOnStoreErrorMs;
  const int64_t longest =
      cfg_.idle_poll_ms > 0 ? std::clamp(cfg_.idle_poll_ms, kMinSleepMs, kMaxSleepMs) : kMaxSleepMs;
  if (*next_due_ms == 0) {  // nothing pending: poke() wakes (a region: look again anyway)
    if (cfg_.idle_poll_ms > 0) return now_ms + longest;
    return std::nullopt;
  }
  return std::clamp(*next_due_ms, now_ms + kMinSleepMs, now_ms + longest);
}

}  // namespace tern::events
