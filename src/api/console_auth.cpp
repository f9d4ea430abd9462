#include "api/console_auth.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <cstring>

#include "core/address.hpp"

namespace tern::api {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool same_origin_header(const net::HttpRequest& req, std::string_view server_origin) {
  const std::string origin = origin_of(req.header("origin"));
  if (origin.empty()) return false;
  if (!server_origin.empty() && origin == server_origin) return true;
  // The origin the browser reached: the Host header with either scheme (a TLS proxy in front
  // may terminate https). A cross-site page cannot make a browser send another site's Origin.
  std::string_view host = req.header("host");
  if (host.empty()) return false;
  return origin == origin_of(fmt::format("http://{}/", host)) ||
         origin == origin_of(fmt::format("https://{}/", host));
}

}  // namespace

std::optional<std::string> cookie_value(const net::HttpRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (k != "cookie") continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim(pair.substr(0, eq)) != name) continue;
      std::string_view val = trim(pair.substr(eq + 1));
      if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
        val = val.substr(1, val.size() - 2);
      return std::string(val);
    }
  }
  return std::nullopt;
}

std::string session_cookie(std::string_view secret, int64_t max_age_s) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict", kSessionCookie,
                     secret, max_age_s);
}

std::string cleared_session_cookie() {
  return fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict", kSessionCookie);
}

std::string csrf_token(std::string_view session_secret) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(session_secret.data()),
                              session_secret.size());
  static constexpr std::string_view kLabel = "tern-csrf";
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(kLabel.data()),
                                kLabel.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char out[sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(out, std::strlen(out));
}

bool changes_state(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::string origin_of(std::string_view url) {
  std::string u = core::to_lower(url);
  std::string scheme;
  if (u.starts_with("http://"))
    scheme = "http";
  else if (u.starts_with("https://"))
    scheme = "https";
  else
    return "";
  std::string_view rest = std::string_view(u).substr(scheme.size() + 3);
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || host.find('@') != std::string_view::npos) return "";
  for (char c : host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '\\') return "";
  std::string h(host);
  const std::string def = scheme == "http" ? ":80" : ":443";
  if (h.ends_with(def)) h.resize(h.size() - def.size());
  return scheme + "://" + h;
}

std::optional<std::string> csrf_refusal(const net::HttpRequest& req, std::string_view csrf,
                                        std::string_view server_origin) {
  if (!changes_state(req.method)) return std::nullopt;
  std::string_view given = req.header("x-tern-csrf");
  if (given.empty()) return "missing X-Tern-CSRF header (cookie requests that change state)";
  if (csrf.empty() || given.size() != csrf.size() ||
      sodium_memcmp(given.data(), csrf.data(), csrf.size()) != 0)
    return "wrong X-Tern-CSRF token";
  std::string_view site = req.header("sec-fetch-site");
  if (!site.empty()) {
    if (site != "same-origin") return "cross-origin request refused (Sec-Fetch-Site)";
    return std::nullopt;
  }
  if (!same_origin_header(req, server_origin))
    return "request without Sec-Fetch-Site needs an Origin header of this server";
  return std::nullopt;
}

std::optional<std::string> login_refusal(const net::HttpRequest& req,
                                         std::string_view server_origin) {
  std::string_view site = req.header("sec-fetch-site");
  if (!site.empty()) {
    if (site != "same-origin" && site != "none")
      return "cross-origin login refused (Sec-Fetch-Site)";
    return std::nullopt;
  }
  if (!req.header("origin").empty() && !same_origin_header(req, server_origin))
    return "cross-origin login refused (Origin)";
  return std::nullopt;
}

}  // namespace tern::api
