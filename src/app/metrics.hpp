// GET /metrics: the server's counters in the Prometheus text exposition format (version 0.0.4),
// read from the parts that keep them (SMTP server, submission, spool, delivery engine, webhook
// sender, HTTP server, the slow-call gate, the report pipeline and its journal, the latency
// histograms). A null part (delivery
// disabled, no HTTP yet) reads as zeros or is left out. Reads atomics only: safe on any thread.
#pragma once
#include <string>

namespace tern::api {
class SlowGate;
}
namespace tern::net {
class SmtpServer;
class DeliveryEngine;
class WebhookSender;
class HttpServer;
class ReportPipeline;
}  // namespace tern::net
namespace tern::pipeline {
class Submission;
}
namespace tern::queue {
class Spool;
}

namespace tern::app {

std::string metrics_text(const net::SmtpServer& smtp, const pipeline::Submission& submission,
                         const queue::Spool& spool, const net::DeliveryEngine* delivery,
                         const net::WebhookSender* webhooks, const net::HttpServer* http,
                         const api::SlowGate* slow, const net::ReportPipeline* reports = nullptr);

}  // namespace tern::app
