// GET /t/o/<token> and /t/c/<token>: verify, record, enqueue, answer. See tracking_endpoint.hpp.
//
// The answer never depends on the bookkeeping: a valid click always redirects and a valid open
// always gets the pixel, even when the message log has no row (yet) or the store fails (logged),
// because the person clicking must not see Tern's trouble. What the event needs (account,
// recipient, bulk id, tracking URL, callback data) comes from the token itself when it carries
// it (version 2, issue 14.15: the log's rows are written in ~100 ms batches, and a click right
// after delivery found no row and was dropped); version 1 tokens are looked up in the message
// log, and only a message it knows gets events, under that message's account.
#include "api/tracking_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/response.hpp"
#include "core/clock.hpp"
#include "policy/options.hpp"
#include "report/report.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"
#include "tracking/token.hpp"

namespace tern::api {

namespace {

// 1x1 transparent GIF89a (43 bytes).
const unsigned char kPixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
                                0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
                                0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
static_assert(sizeof kPixel == 43);

constexpr size_t kMaxUserAgent = 512;

net::HttpResponse not_found() { return error_response(404, "not_found", "no such link"); }

// A URL that may go into a Location header: http(s), no whitespace or control characters.
bool safe_location(std::string_view url) {
  if (!policy::is_http_url(url)) return false;
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

// What an event is about: from a version 2 token, else from the message log's row.
struct EventTarget {
  std::string message_id, queue_id, recipient, bulk_id, tracking_url, callback_data;
  int64_t account_id = 0;
};

std::optional<EventTarget> target_of(const ApiServices& svc, const tracking::TokenFields& t) {
  EventTarget s;
  s.message_id = store::make_message_id(t.message_id, static_cast<int>(t.recipient));
  s.queue_id = t.message_id;
  if (t.context) {
    s.account_id = t.context->account_id;
    s.recipient = t.context->recipient;
    s.bulk_id = t.context->bulk_id;
    s.tracking_url = t.context->tracking_url;
    s.callback_data = t.context->callback_data;
    return s;
  }
  if (!svc.messages) return std::nullopt;
  auto found = svc.messages->find(s.message_id);
  if (!found) {
    spdlog::warn("tracking {}: message log: {}", s.message_id, found.error().message);
    return std::nullopt;
  }
  if (!found.value()) {
    spdlog::info("tracking {}: not in the message log", s.message_id);
    return std::nullopt;
  }
  const store::MessageRecord& m = *found.value();
  const policy::MessageOptions opts = policy::options_from_json(m.options_json);
  s.queue_id = m.queue_id;
  s.account_id = m.account_id;
  s.recipient = m.recipient;
  s.bulk_id = m.bulk_id;
  s.tracking_url = opts.tracking_url;
  s.callback_data = opts.callback_data;
  return s;
}

void record(const ApiServices& svc, const tracking::TokenFields& t, const net::HttpRequest& req) {
  const bool click = t.kind == tracking::TokenKind::click;
  const auto target = target_of(svc, t);
  if (!target) return;
  const EventTarget& m = *target;
  const std::string& message_id = m.message_id;
  const int64_t now_ms = svc.clock ? svc.clock->now_ms()
                                   : std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  std::string ua(req.header("user-agent").substr(0, kMaxUserAgent));

  store::DeliveryEvent ev;
  ev.time_ms = now_ms;
  ev.queue_id = m.queue_id;
  ev.account_id = m.account_id;
  ev.recipient = m.recipient;
  ev.event = click ? core::EventKind::clicked : core::EventKind::opened;
  ev.reply = click ? t.url : ua;
  if (!svc.journal_rows && svc.store) {
    if (auto r = svc.store->events.record({ev}); !r)
      spdlog::warn("tracking {}: event: {}", message_id, r.error().message);
  }

  if (m.tracking_url.empty() || (!svc.outbox && !svc.journal_rows)) {
    if (svc.journal_rows) svc.journal_rows({std::move(ev)}, {});
    return;
  }
  auto time = report::format_time(now_ms);
  nlohmann::json item = {{"type", click ? "CLICKED" : "OPENED"},
                         {"messageId", m.message_id},
                         {"bulkId", m.bulk_id},
                         {"recipient", m.recipient},
                         {"url", click ? t.url : std::string()},
                         {"time", time ? time.value() : std::string()},
                         {"userAgent", ua},
                         {"ip", req.remote_ip},
                         {"callbackData", m.callback_data}};
  store::OutboxItem o;
  o.account_id = m.account_id;
  o.kind = store::OutboxKind::tracking;
  o.url = m.tracking_url;
  o.content_type = "application/json";
  o.message_id = m.message_id;
  o.queue_id = m.queue_id;
  o.recipient = m.recipient;
  o.item = item.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  o.created_ms = now_ms;
  if (svc.journal_rows) {
    std::vector<store::OutboxItem> items{std::move(o)};
    svc.journal_rows({std::move(ev)}, std::move(items));
    return;
  }
  if (auto r = svc.outbox->enqueue({o}, now_ms); !r) {
    spdlog::warn("tracking {}: outbox: {}", message_id, r.error().message);
    return;
  }
  if (svc.webhooks_enqueued) svc.webhooks_enqueued();
}

}  // namespace

net::HttpResponse handle_tracking(const ApiServices& svc, const net::HttpRequest& req) {
  std::string_view path = req.path();
  tracking::TokenKind kind;
  if (path.starts_with("/t/o/"))
    kind = tracking::TokenKind::open;
  else if (path.starts_with("/t/c/"))
    kind = tracking::TokenKind::click;
  else
    return not_found();
  if (req.method != "GET" && req.method != "HEAD")
    return error_response(405, "method_not_allowed", "use GET");
  if (svc.tracking_secret.empty()) return not_found();
  auto t = tracking::verify_token(path.substr(5), svc.tracking_secret);
  if (!t || t->kind != kind) return not_found();
  if (kind == tracking::TokenKind::click && !safe_location(t->url)) return not_found();

  if (req.method == "GET") record(svc, t.value(), req);

  if (kind == tracking::TokenKind::click)
    return {
        302,
        "text/plain; charset=utf-8",
        "",
        {{"Location", t->url}, {"Cache-Control", "no-store"}, {"Referrer-Policy", "no-referrer"}}};
  return {200,
          "image/gif",
          std::string(reinterpret_cast<const char*>(kPixel), sizeof kPixel),
          {{"Cache-Control", "no-store, max-age=0"}}};
}

}  // namespace tern::api
