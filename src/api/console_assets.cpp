// Serving the embedded console (console_assets.hpp): path checks, SPA fallback, content types,
// cache headers, ETag/304, gzip negotiation and the security headers. Pure over a table.
#include "api/console_assets.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

#include "api/request.hpp"

namespace tern::api {

const char* const kConsoleCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

namespace {

constexpr std::string_view kPrefix = "/console/";
constexpr const char* kImmutable = "public, max-age=31536000, immutable";
constexpr const char* kRevalidate = "no-cache";

// The placeholder of a binary built without the console (no inline script or style: the CSP
// applies to it too).
constexpr std::string_view kPlaceholder = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tern console not built</title>
</head>
<body>
<main>
<h1>The Tern console is not built into this binary</h1>
<p>This <code>tern</code> was compiled without the web console (Node.js was not available, or
<code>console/dist</code> did not exist when it was built). The REST API under
<code>/api/v1/</code> works as usual.</p>
<p>To build the console into <code>tern</code> (needs Node.js 20.19 or later and npm):</p>
<pre>make build
</pre>
<p>or by hand:</p>
<pre>cd console &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ..
cmake --build build --target tern
</pre>
<p>See docs/console.md.</p>
</main>
</body>
</html>
)";

void add_security_headers(net::HttpResponse& r) {
  r.headers.emplace_back("Content-Security-Policy", kConsoleCsp);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

net::HttpResponse text(int status, std::string body) {
  net::HttpResponse r{status, "text/plain; charset=utf-8", std::move(body)};
  r.headers.emplace_back("Cache-Control", "no-store");
  add_security_headers(r);
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Accept-Encoding names gzip (or *) with a q-value above zero.
bool accepts_gzip(std::string_view header) {
  bool gzip = false, star = false, gzip_named = false;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto semi = item.find(';');
    std::string_view name = trim(item.substr(0, semi));
    bool zero = false;
    if (semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      auto q = params.find("q=");
      if (q == std::string_view::npos) q = params.find("Q=");
      if (q != std::string_view::npos) {
        std::string_view v = trim(params.substr(q + 2));
        v = v.substr(0, v.find(';'));
        v = trim(v);
        // q=0, q=0.0, q=0.000: refused; anything else: accepted.
        zero = !v.empty() && v.find_first_not_of("0.") == std::string_view::npos;
      }
    }
    if (iequals(name, "gzip") || iequals(name, "x-gzip")) {
      gzip_named = true;
      gzip = !zero;
    } else if (name == "*") {
      star = !zero;
    }
  }
  return gzip_named ? gzip : star;
}

// If-None-Match lists an ETag of this asset (either representation), or "*".
bool etag_matches(std::string_view header, std::string_view identity, std::string_view gz) {
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view tag = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);  // weak comparison (RFC 9110 13.1.2)
    if (tag == identity || (!gz.empty() && tag == gz)) return true;
  }
  return false;
}

// The asset path under /console/, decoded and checked; nullopt: refused.
std::optional<std::string> asset_path(std::string_view rel) {
  auto decoded = percent_decode(rel);
  if (!decoded) return std::nullopt;
  const std::string& p = *decoded;
  if (p.find('\\') != std::string::npos || p.find('\0') != std::string::npos) return std::nullopt;
  if (p.starts_with('/')) return std::nullopt;
  size_t start = 0;
  while (start <= p.size()) {
    auto slash = p.find('/', start);
    std::string_view seg =
        std::string_view(p).substr(start, slash == std::string::npos ? p.npos : slash - start);
    if (seg == "." || seg == "..") return std::nullopt;
    // An empty segment is allowed only as the trailing slash of a client-side route.
    if (seg.empty() && slash != std::string::npos) return std::nullopt;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return p;
}

const ConsoleAsset* find(std::span<const ConsoleAsset> assets, std::string_view path) {
  for (const auto& a : assets)
    if (a.path == path) return &a;
  return nullptr;
}

net::HttpResponse serve_asset(const ConsoleAsset& a, const net::HttpRequest& req) {
  const bool immutable = a.path.starts_with("assets/");
  const std::string identity_tag = "\"" + std::string(a.etag) + "\"";
  const std::string gzip_tag = a.gzip.empty() ? "" : "\"" + std::string(a.etag) + ".gz\"";
  const bool gz = !a.gzip.empty() && accepts_gzip(req.header("accept-encoding"));

  net::HttpResponse r;
  r.content_type = std::string(console_content_type(a.path));
  r.headers.emplace_back("Cache-Control", immutable ? kImmutable : kRevalidate);
  r.headers.emplace_back("ETag", gz ? gzip_tag : identity_tag);
  if (!a.gzip.empty()) r.headers.emplace_back("Vary", "Accept-Encoding");
  add_security_headers(r);
  if (auto inm = req.header("if-none-match"); !inm.empty()) {
    if (etag_matches(inm, identity_tag, gzip_tag)) {
      r.status = 304;
      return r;
    }
  }
  r.status = 200;
  if (gz) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body = std::string(a.gzip);
  } else {
    r.body = std::string(a.body);
  }
  return r;
}

}  // namespace

bool is_console_path(std::string_view path) {
  return path == "/" || path == "/console" || path.starts_with(kPrefix);
}

std::string_view console_content_type(std::string_view path) {
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  const auto slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const auto dot = name.rfind('.');
  if (dot != std::string_view::npos) {
    std::string_view ext = name.substr(dot);
    for (const auto& t : kTypes)
      if (iequals(t.ext, ext)) return t.type;
  }
  return "application/octet-stream";
}

net::HttpResponse serve_console(std::span<const ConsoleAsset> assets, const net::HttpRequest& req) {
  const std::string_view path = req.path();
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = text(405, "method not allowed; allowed: GET, HEAD\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (path == "/" || path == "/console") {
    std::string location = "/console/";
    if (!req.query().empty()) location += "?" + std::string(req.query());
    auto r = text(path == "/" ? 302 : 301, "see /console/\n");
    r.headers.emplace_back("Location", location);
    return r;
  }
  if (!path.starts_with(kPrefix)) return text(404, "not found\n");
  auto rel = asset_path(path.substr(kPrefix.size()));
  if (!rel) return text(400, "bad path\n");

  const ConsoleAsset* index = find(assets, "index.html");
  if (!index) {
    net::HttpResponse r{200, "text/html; charset=utf-8", std::string(kPlaceholder)};
    r.headers.emplace_back("Cache-Control", "no-store");
    add_security_headers(r);
    return r;
  }
  if (rel->empty()) return serve_asset(*index, req);
  if (const ConsoleAsset* a = find(assets, *rel)) return serve_asset(*a, req);
  // Client-side routes ("domains", "domains/example.com") get index.html; a missing file
  // ("assets/x.js", "favicon.ico": under assets/ or with a static file's extension) is a real
  // 404, never index.html.
  if (rel->starts_with("assets/") || console_content_type(*rel) != "application/octet-stream")
    return text(404, "not found\n");
  return serve_asset(*index, req);
}

net::HttpResponse handle_console(const net::HttpRequest& req) {
  return serve_console(embedded_console_assets(), req);
}

}  // namespace tern::api
