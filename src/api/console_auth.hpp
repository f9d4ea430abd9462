// The console's cookie rules (issue 13, CONSOLE.md), as pure functions of a request:
//  - The session cookie `__Host-tern_session`: HttpOnly, Secure, SameSite=Strict, Path=/, no
//    Domain (the __Host- prefix makes browsers refuse it otherwise, so no subdomain or plain-
//    http page can plant or overwrite it). Its value is a 256-bit random secret.
//  - CSRF: a cookie-authenticated request that changes state (anything but GET, HEAD, OPTIONS)
//    must carry `X-Tern-CSRF: <csrf>` where csrf = base64url(HMAC-SHA256(session secret,
//    "tern-csrf")) — derived, so nothing more is stored — AND come from the console's own
//    origin: `Sec-Fetch-Site: same-origin`, or, from a browser that sends no Sec-Fetch-Site, an
//    `Origin` equal to the server's origin (public URL) or to http(s)://<Host>. Otherwise 403.
//  - A login (POST /session) made by a browser must not come from another site either
//    (login CSRF): Sec-Fetch-Site, when present, must be same-origin or none; else an Origin,
//    when present, must be the server's. Clients that send neither (curl) are not browsers.
// Bearer-authenticated requests are not subject to any of this (no ambient credential).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "net/http_server.hpp"

namespace tern::api {

inline constexpr std::string_view kSessionCookie = "__Host-tern_session";

// The value of a cookie in the request's Cookie header(s); nullopt when absent.
std::optional<std::string> cookie_value(const net::HttpRequest& req, std::string_view name);
// Set-Cookie for a new session (Max-Age = max_age_s) and for clearing it.
std::string session_cookie(std::string_view secret, int64_t max_age_s);
std::string cleared_session_cookie();

std::string csrf_token(std::string_view session_secret);
bool changes_state(std::string_view method);

// "https://Example.com:443/x" → "https://example.com"; "" for something that is not an
// absolute http(s) URL. Default ports are dropped, scheme and host lower-cased.
std::string origin_of(std::string_view url);

// nullopt: the cookie request may go on; else why it is refused (403 "csrf").
std::optional<std::string> csrf_refusal(const net::HttpRequest& req, std::string_view csrf,
                                        std::string_view server_origin);
// The login-CSRF rule for POST /session (see above); nullopt when allowed.
std::optional<std::string> login_refusal(const net::HttpRequest& req,
                                         std::string_view server_origin);

}  // namespace tern::api
