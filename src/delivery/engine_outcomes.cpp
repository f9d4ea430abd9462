// The engine's outcomes: per-recipient results through the RetryPolicy into events, STATE
// records, bounce notices and suppressions (SPEC §4, seed 000 bounces).
#include <algorithm>

#include "core/histogram.hpp"
#include "core/ids.hpp"
#include "delivery/engine.hpp"

namespace tern::delivery {

void Engine::apply(const Job& job, const std::vector<core::DeliveryOutcome>& outs, bool handed) {
  auto it = active_.find(job.queue_id);
  if (it == active_.end()) return;  // deleted meanwhile
  Active& a = it->second;
  const int64_t t = now();
  std::vector<FailedRecipient> failed;
  bool changed = false;
  for (size_t k = 0; k < job.rcpts.size() && k < outs.size(); ++k) {
    const uint32_t i = job.rcpts[k];
    if (i >= a.m.recipients.size()) continue;
    a.busy[i] = 0;
    if (handed) a.inflight[i] = 0;
    auto& r = a.m.recipients[i];
    if (queue::is_final(r.state)) continue;
    const auto& o = outs[k];
    r = cfg_.retry.next(r, a.m.received_ms, t, o, a.m.id).recipient;
    changed = true;
    record(a.m, r, o);
    switch (r.state) {
      case queue::RcptState::delivered:
        ++c_.delivered;
        core::delivery_latency().observe(static_cast<double>(t - a.m.received_ms) / 1000.0);
        break;
      case queue::RcptState::deferred:
        ++c_.deferred;
        break;
      case queue::RcptState::bounced:
        ++c_.bounced;
        break;
      case queue::RcptState::expired:
        ++c_.expired;
        break;
      default:
        break;
    }
    if (r.state == queue::RcptState::bounced || r.state == queue::RcptState::expired) {
      failed.push_back({r.address,
                        o.enhanced.empty() ? (o.is_perm() ? "5.0.0" : "4.0.0") : o.enhanced,
                        o.mx_host, o.code, o.text, r.state == queue::RcptState::expired, t});
      if (r.state == queue::RcptState::bounced && is_hard_bounce(o.code, o.enhanced, o.phase))
        suppress(a.m, r.address, o.summary());
    }
  }
  if (!failed.empty()) notify_sender(a, std::move(failed), t);
  const bool all_final = std::all_of(a.m.recipients.begin(), a.m.recipients.end(),
                                     [](const auto& r) { return queue::is_final(r.state); });
  if (changed && !all_final) persist(a);  // all final: review() finishes it (DONE)
  review(job.queue_id);
}

void Engine::persist(const Active& a) {
  PersistState p;
  p.msg.id = a.m.id;
  p.msg.recipients = a.m.recipients;
  p.msg.held = a.m.held;
  actions_.push_back(std::move(p));
}

void Engine::record(const queue::QueuedMessage& m, const queue::Recipient& r,
                    const core::DeliveryOutcome& o) {
  DeliveryEvent e;
  e.time_ms = now();
  e.queue_id = m.id;
  e.account_id = m.account_id;
  e.recipient = r.address;
  e.event = queue::event_of(r.state);
  e.attempt = r.attempts;
  e.code = o.code;
  e.enhanced = o.enhanced;
  e.reply = o.text;
  e.mx_host = o.mx_host;
  e.tls = o.tls;
  e.phase = o.phase;
  e.sending_ip = o.local_ip;
  e.first_attempt_ms = r.first_attempt_ms;
  if (events_.empty()) events_due_ = e.time_ms + cfg_.events_delay_ms;
  events_.push_back(std::move(e));
  if (events_.size() >= cfg_.events_batch) flush_events();
}

void Engine::flush_events() {
  if (events_.empty()) return;
  actions_.push_back(RecordEvents{std::move(events_)});
  events_.clear();
}

void Engine::suppress(const queue::QueuedMessage& m, const std::string& addr, std::string reason) {
  if (m.account_id == 0) return;
  actions_.push_back(AddSuppression{m.account_id, addr, std::move(reason), m.id, now()});
}

// RFC 3464 notice to the envelope sender (never for a bounce: its sender is empty).
void Engine::notify_sender(const Active& a, std::vector<FailedRecipient> failed, int64_t t) {
  if (a.m.sender.empty()) return;
  bool need = false;
  const store::AccountSettings* s = settings_.get(a.m.account_id, t, need);
  if (need) actions_.push_back(LoadSettings{a.m.account_id});
  if (s && !s->bounce_notices) return;
  SpoolBounce b;
  b.original_id = a.m.id;
  b.in.reporting_mta = cfg_.hostname;
  b.in.to = a.m.sender;
  b.in.queue_id = a.m.id;
  b.in.original_message_id = a.m.message_id;
  b.in.arrival_ms = a.m.received_ms;
  b.in.now_ms = t;
  b.in.recipients = std::move(failed);
  const std::string id = core::new_queue_id();
  b.in.message_id = "<" + id + "@" + cfg_.hostname + ">";
  queue::QueuedMessage& n = b.notice;
  n.id = id;
  n.account_id = a.m.account_id;
  n.account_name = a.m.account_name;
  n.sender = "";
  queue::Recipient rc;
  rc.address = a.m.sender;
  n.recipients.push_back(std::move(rc));
  n.received_ms = t;
  n.client_ip = "127.0.0.1";
  n.helo = cfg_.hostname;
  n.message_id = b.in.message_id;
  n.header_from = "MAILER-DAEMON@" + cfg_.hostname;
  actions_.push_back(std::move(b));
}

}  // namespace tern::delivery
