#include "app/metrics.hpp"

#include "api/slow_calls.hpp"
#include "core/histogram.hpp"
#include "net/delivery_engine.hpp"
#include "net/http_server.hpp"
#include "net/report_pipeline.hpp"
#include "net/smtp_server.hpp"
#include "net/webhook_sender.hpp"
#include "pipeline/submission.hpp"
#include "queue/spool.hpp"

namespace tern::app {

std::string metrics_text(const net::SmtpServer& smtp, const pipeline::Submission& submission,
                         const queue::Spool& spool, const net::DeliveryEngine* delivery,
                         const net::WebhookSender* webhooks, const net::HttpServer* http,
                         const api::SlowGate* slow, const net::ReportPipeline* reports) {
  const auto& c = smtp.counters();
  const auto st = spool.stats();
  const auto d = delivery ? delivery->counters() : net::DeliveryCounters{};
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  metric("tern_smtp_connections_total", "counter", "SMTP connections accepted.", c.connections);
  metric("tern_smtp_connections_active", "gauge", "SMTP connections open now.", c.active);
  metric("tern_smtp_connections_rejected_total", "counter", "Connections refused by limits.",
         c.rejected_connections);
  metric("tern_smtp_auth_failures_total", "counter", "Failed SMTP authentications.",
         c.auth_failures);
  // Every path: streamed SMTP, and what Submission stores (HTTP send, tracked SMTP copies, sender
  // verification mail).
  metric("tern_messages_accepted_total", "counter",
         "Messages accepted into the queue (SMTP, HTTP send; one per tracked copy).",
         c.accepted_messages + submission.accepted());
  metric("tern_spool_commits_total", "counter", "Spool commits since start.", st.commits);
  metric("tern_spool_fsyncs_total", "counter", "Spool fdatasync calls since start.", st.fsyncs);
  metric("tern_spool_group_commit_waits_total", "counter",
         "Spool syncs that first waited for messages still in DATA.", st.group_commit_waits);
  metric("tern_spool_quarantined_total", "counter", "Damaged spool entries quarantined.",
         st.quarantined);
  metric("tern_delivered_total", "counter", "Recipients delivered.", d.delivered);
  metric("tern_deferred_total", "counter", "Delivery attempts deferred.", d.deferred);
  metric("tern_bounced_total", "counter", "Recipients bounced.", d.bounced);
  metric("tern_expired_total", "counter", "Recipients expired.", d.expired);
  metric("tern_rejected_total", "counter", "Recipients rejected (suppressed).", d.rejected);
  metric("tern_delivery_connections_total", "counter", "Outbound SMTP connections.", d.connections);
  metric("tern_bounce_notices_total", "counter", "Bounce notices queued.", d.bounce_notices);
  metric("tern_queue_messages", "gauge", "Messages in the delivery queue.", d.queued_messages);
  const auto w = webhooks ? webhooks->counters() : net::WebhookCounters{};
  metric("tern_webhooks_sent_total", "counter", "Webhook items (reports, events) delivered.",
         w.sent);
  metric("tern_webhook_failures_total", "counter", "Webhook POSTs that got no 2xx.",
         w.failed_attempts);
  metric("tern_webhooks_given_up_total", "counter", "Webhook items given up.", w.given_up);
  metric("tern_webhook_backlog", "gauge", "Webhook items waiting in the outbox.", w.backlog);
  if (http) {
    const auto& h = http->counters();
    metric("tern_http_connections_active", "gauge", "HTTP connections open now.", h.active);
    metric("tern_http_connections_rejected_total", "counter", "HTTP connections refused by limits.",
           h.rejected_connections);
    metric("tern_http_accept_errors_total", "counter", "HTTP accept() failures (EMFILE...).",
           h.accept_errors);
  }
  metric("tern_smtp_timeouts_total", "counter",
         "SMTP sessions cut by a command, data-rate or session limit.", c.timeouts);
  if (slow)
    metric("tern_api_slow_calls_in_flight", "gauge",
           "Test emails, domain checks and key generations running.",
           static_cast<uint64_t>(slow->total_in_flight()));
  if (reports) {
    const auto r = reports->counters();
    metric("tern_journal_pending", "gauge",
           "Journaled writes not yet applied to the database (grows while it is away).", r.pending);
    metric("tern_journal_apply_retries_total", "counter",
           "Times the journal's applier waited for the database to come back.", r.retries);
    metric("tern_journal_replayed_total", "counter",
           "Journal entries found unapplied at start and applied then.", r.replayed);
    metric("tern_journal_append_errors_total", "counter",
           "Failed journal appends (the batch waits in memory, unapplied, and is tried again).",
           r.journal_errors);
    metric("tern_journal_unjournaled", "gauge",
           "Entries waiting in memory for a journal append to succeed (disk full, I/O error).",
           r.unjournaled);
    metric("tern_journal_damaged_total", "counter",
           "Damaged byte ranges found in the journal at start (segments kept as .corrupt).",
           r.journal_damaged);
    metric("tern_journal_undecodable_total", "counter",
           "Journal entries found unreadable at start (kept as <seq>.undecodable, not applied).",
           r.undecodable);
    metric("tern_reports_suppressions_total", "counter",
           "Suppression entries applied to the database (each entry counted once).",
           r.suppressions);
    metric("tern_reports_write_errors_total", "counter",
           "Message-log, event, outbox or suppression writes dropped after a permanent error.",
           r.errors);
  }
  out += core::accept_latency().prometheus("tern_accept_latency_seconds",
                                           "End of DATA to the 250 reply (spool fsync included).");
  out += core::delivery_latency().prometheus("tern_delivery_latency_seconds",
                                             "Acceptance to delivery, per recipient.");
  return out;
}

}  // namespace tern::app
