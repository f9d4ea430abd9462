// /captured: mail kept by the sandbox route (SPEC §9, issue 13), scoped to the account.
//   GET /captured?limit&cursor     newest first: {items:[{id, queueId, messageId, from, to,
//                                  subject, capturedAt, size}], nextCursor}
//   GET /captured/{id}             + headers [{name, value}], text, html (null when none),
//                                  attachments [{filename, contentType, size}], sender
//   GET /captured/{id}/raw         message/rfc822, as a download
//   GET /captured/{id}/html        the HTML part alone, under a CSP that sandboxes it: no
//                                  script, no plugin, no same-origin access, no network but
//                                  data: images, framable by the console only
// Another account's id answers 404 like a missing one. What a tenant put in its mail is hostile
// to the viewer (XSS in HTML, a script disguised as text): the HTML is only ever served with
// `sandbox` in its CSP and nosniff, and the raw message as an attachment.
#include "store/captured.hpp"

#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "tracking/mime_view.hpp"

namespace tern::api {

namespace {

constexpr const char* kHtmlCsp =
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

nlohmann::json summary_json(const store::CapturedMessage& m) {
  return {{"id", m.id},
          {"queueId", m.queue_id},
          {"messageId", m.message_id},
          {"from", m.header_from},
          {"sender", m.sender},
          {"to", m.recipients},
          {"subject", m.subject},
          {"capturedAt", iso_time(m.captured_ms)},
          {"size", m.size}};
}

void hostile_content_headers(net::HttpResponse& r) {
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "private, no-store");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
}

}  // namespace

net::HttpResponse handle_captured(const Call& c) {
  if (c.req.method != "GET" && c.req.method != "HEAD") return method_not_allowed("GET");
  if (!c.svc.captured) return error_response(503, "unavailable", "captured mail is not enabled");
  if (c.rest.empty()) {
    auto page = page_request(c.req);
    if (!page) return bad_request(page.error().message);
    auto p = c.svc.captured->list(c.account.id, page->limit, page->cursor);
    if (!p) return from_error(p.error());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& m : p->items) items.push_back(summary_json(m));
    return json_response(
        200, {{"items", items},
              {"nextCursor",
               p->next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->next_cursor)}});
  }
  if (c.rest.size() > 2) return no_route();
  const std::string view = c.rest.size() == 2 ? c.rest[1] : "";
  if (!view.empty() && view != "raw" && view != "html") return no_route();
  auto got = c.svc.captured->get(c.account.id, c.rest[0], true);
  if (!got) return from_error(got.error());
  if (!*got) return not_found("captured message");
  const auto& m = **got;
  if (view == "raw") {
    net::HttpResponse r{200, "message/rfc822", m.raw};
    r.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"captured-" + m.id + ".eml\"");
    r.headers.emplace_back("Content-Security-Policy", "sandbox; default-src 'none'");
    hostile_content_headers(r);
    return r;
  }
  const auto v = tracking::view_message(m.raw);
  if (view == "html") {
    if (!v.has_html) return not_found("HTML part");
    net::HttpResponse r{200, "text/html; charset=utf-8", v.html};
    r.headers.emplace_back("Content-Security-Policy", kHtmlCsp);
    r.headers.emplace_back("X-Frame-Options", "SAMEORIGIN");
    hostile_content_headers(r);
    return r;
  }
  nlohmann::json j = summary_json(m);
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& [n, val] : v.headers) headers.push_back({{"name", n}, {"value", val}});
  nlohmann::json atts = nlohmann::json::array();
  for (const auto& a : v.attachments)
    atts.push_back({{"filename", a.filename}, {"contentType", a.content_type}, {"size", a.size}});
  j["headers"] = headers;
  j["text"] = v.has_text ? nlohmann::json(v.text) : nlohmann::json(nullptr);
  j["html"] = v.has_html ? nlohmann::json(v.html) : nlohmann::json(nullptr);
  j["attachments"] = atts;
  j["truncated"] = v.truncated;
  return json_response(200, j);
}

}  // namespace tern::api
