// GET /v/<token>: the link of a registered-sender verification email. No auth: the token is the
// proof (128 random bits; only its SHA-256 is stored). Answers a small HTML page: 200 "verified",
// 410 for an expired link, 404 for an unknown, used or forged one. Addresses in the page are
// HTML-escaped.
#include <fmt/format.h>

#include "api/resources.hpp"
#include "core/clock.hpp"

namespace tern::api {

namespace {
std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

net::HttpResponse page(int status, const std::string& title, const std::string& text) {
  return {status,
          "text/html; charset=utf-8",
          fmt::format("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title>"
                      "</head>\n<body><h1>{0}</h1><p>{1}</p></body></html>\n",
                      html_escape(title), html_escape(text)),
          {{"Cache-Control", "no-store"}, {"Referrer-Policy", "no-referrer"}}};
}
}  // namespace

net::HttpResponse handle_verify(const ApiServices& svc, const net::HttpRequest& req) {
  // Not HEAD: a link checker's HEAD must not use the link up.
  if (req.method != "GET") {
    auto r = page(405, "Method not allowed", "Open this link in a browser.");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  std::string_view token = req.path().substr(3);
  // Tokens are 26 lower-case base32 characters; anything else cannot be one of ours.
  bool shape = token.size() == 26;
  for (char c : token) shape = shape && ((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'));
  if (!shape) return page(404, "Link not found", "This verification link is not valid.");
  const int64_t now = svc.clock ? svc.clock->now_ms() : core::SystemClock().now_ms();
  auto r = svc.store->senders.consume_verification(std::string(token), now);
  if (!r) return page(503, "Try again later", "The link could not be checked right now.");
  using S = store::SenderVerification::Status;
  switch (r->status) {
    case S::verified:
      return page(200, "Address verified",
                  r->sender.address + " is verified: it may now be used as a sender.");
    case S::expired:
      return page(410, "Link expired",
                  "This verification link has expired. Register the address again to get a "
                  "new one.");
    case S::unknown:
      break;
  }
  return page(404, "Link not found", "This verification link is not valid or was already used.");
}

}  // namespace tern::api
