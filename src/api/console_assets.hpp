// The web console (console/, issue 13) served at /console/. The built single-page app
// (console/dist) is embedded in the binary at build time: cmake/embed_console.cmake turns it into
// a generated table (console_table.cpp). Without a built console the table is empty and every
// /console/ path answers a placeholder page saying how to build it, so the C++ build never needs
// Node.
// Invariants:
// - Only GET and HEAD (405 otherwise); "/" and "/console" redirect to "/console/".
// - A path with a "." or ".." segment, a backslash, a NUL or a bad percent-escape is refused
//   (400) before any lookup; lookups are exact matches in the table, never the file system.
// - A known asset is served with its content type; an unknown path gets index.html (the SPA
//   routes it: "domains/example.com") unless it is under assets/ or ends in a static file's
//   extension (".js", ".png", ...): then 404.
// - Hashed assets (under assets/) are "immutable" for a year; everything else ("index.html")
//   revalidates every time (no-cache) with a strong ETag, answered 304 on If-None-Match.
// - A pre-compressed variant is served when the client accepts gzip (Vary: Accept-Encoding).
// - Every answer carries the strict CSP (no inline script or style, frame-ancestors 'none'),
//   X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
#pragma once
#include <span>
#include <string_view>

#include "net/http_server.hpp"

namespace tern::api {

struct ConsoleAsset {
  std::string_view path;  // relative to /console/: "index.html", "assets/index-3f2a.js"
  std::string_view body;
  std::string_view gzip;  // the gzip-compressed body, "" when none was made
  std::string_view etag;  // hex digest of body (the table's generator computes it)
};

// The table generated from console/dist at build time (empty: no console was built).
std::span<const ConsoleAsset> embedded_console_assets();

// Whether the HTTP surface should hand this path to the console: "/", "/console", "/console/…".
bool is_console_path(std::string_view path);

// Content type by extension ("application/octet-stream" when unknown).
std::string_view console_content_type(std::string_view path);

// Serves req from a table (tests pass their own; empty: the placeholder page).
net::HttpResponse serve_console(std::span<const ConsoleAsset> assets, const net::HttpRequest& req);

// serve_console over the embedded table.
net::HttpResponse handle_console(const net::HttpRequest& req);

// The Content-Security-Policy of every console answer.
extern const char* const kConsoleCsp;

}  // namespace tern::api
