// The console's static serving (console_assets.hpp) over a small fake table and over the table
// embedded at build time: SPA fallback, content types, cache headers, gzip negotiation,
// ETag/304, HEAD, methods, redirects, path traversal refused, the security headers on every
// answer, and the placeholder page of a binary built without the console.
#include "api/console_assets.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/api.hpp"

namespace tern::api {
namespace {

const ConsoleAsset kTable[] = {
    {"index.html", "<!doctype html><title>Tern</title><script src=/console/assets/app-1a2b.js>",
     "GZ-INDEX", "0123456789abcdef0123456789abcdef"},
    {"assets/app-1a2b.js", "console.log(1)", "GZ-JS", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"assets/app-1a2b.css", "body{}", "", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
    {"favicon.svg", "<svg/>", "", "cccccccccccccccccccccccccccccccc"},
};

net::HttpRequest get(std::string target, std::vector<std::pair<std::string, std::string>> h = {},
                     std::string method = "GET") {
  net::HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(h);
  r.remote_ip = "127.0.0.1";
  return r;
}

std::string header(const net::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

net::HttpResponse serve(const net::HttpRequest& r) { return serve_console(kTable, r); }

void expect_security_headers(const net::HttpResponse& r) {
  const std::string csp = header(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(r, "Referrer-Policy"), "no-referrer");
}

TEST(ConsoleAssets, IndexIsServedAtTheRootAndRevalidatedEveryTime) {
  auto r = serve(get("/console/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, kTable[0].body);
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(header(r, "ETag"), "\"0123456789abcdef0123456789abcdef\"");
  expect_security_headers(r);
  auto direct = serve(get("/console/index.html"));
  EXPECT_EQ(direct.body, kTable[0].body);
}

TEST(ConsoleAssets, ClientSideRoutesFallBackToIndex) {
  for (const char* p : {"/console/domains", "/console/domains/example.com",
                        "/console/messages?q=a%40b.test&status=bounced", "/console/queue/"}) {
    auto r = serve(get(p));
    EXPECT_EQ(r.status, 200) << p;
    EXPECT_EQ(r.body, kTable[0].body) << p;
    EXPECT_EQ(header(r, "Cache-Control"), "no-cache") << p;
    expect_security_headers(r);
  }
}

TEST(ConsoleAssets, MissingFilesAre404NotIndex) {
  for (const char* p : {"/console/assets/gone-1234.js", "/console/assets/x", "/console/favicon.ico",
                        "/console/a/b.css", "/console/logo.png"}) {
    auto r = serve(get(p));
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_NE(r.body, kTable[0].body) << p;
    expect_security_headers(r);
  }
}

TEST(ConsoleAssets, HashedAssetsAreImmutableWithTheirContentType) {
  auto js = serve(get("/console/assets/app-1a2b.js"));
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, "console.log(1)");
  EXPECT_EQ(header(js, "Cache-Control"), "public, max-age=31536000, immutable");
  expect_security_headers(js);
  auto css = serve(get("/console/assets/app-1a2b.css"));
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_EQ(header(css, "Cache-Control"), "public, max-age=31536000, immutable");
  auto svg = serve(get("/console/favicon.svg"));
  EXPECT_EQ(svg.content_type, "image/svg+xml");
  EXPECT_EQ(header(svg, "Cache-Control"), "no-cache");
}

TEST(ConsoleAssets, ContentTypesByExtension) {
  EXPECT_EQ(console_content_type("a/b/c.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(console_content_type("x.json"), "application/json");
  EXPECT_EQ(console_content_type("x.woff2"), "font/woff2");
  EXPECT_EQ(console_content_type("x.png"), "image/png");
  EXPECT_EQ(console_content_type("noext"), "application/octet-stream");
  EXPECT_EQ(console_content_type("dir.js/file"), "application/octet-stream");
}

TEST(ConsoleAssets, GzipServedOnlyWhenAccepted) {
  auto plain = serve(get("/console/assets/app-1a2b.js"));
  EXPECT_EQ(plain.body, "console.log(1)");
  EXPECT_EQ(header(plain, "Content-Encoding"), "");
  EXPECT_EQ(header(plain, "Vary"), "Accept-Encoding");

  auto gz = serve(get("/console/assets/app-1a2b.js", {{"accept-encoding", "gzip, deflate, br"}}));
  EXPECT_EQ(gz.body, "GZ-JS");
  EXPECT_EQ(header(gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(header(gz, "Vary"), "Accept-Encoding");
  EXPECT_EQ(gz.content_type, "text/javascript; charset=utf-8");
  // The two representations have different validators.
  EXPECT_NE(header(gz, "ETag"), header(plain, "ETag"));

  for (const char* refused : {"gzip;q=0", "br, gzip; q=0.0", "identity", "deflate", "*;q=0"}) {
    auto r = serve(get("/console/assets/app-1a2b.js", {{"accept-encoding", refused}}));
    EXPECT_EQ(r.body, "console.log(1)") << refused;
    EXPECT_EQ(header(r, "Content-Encoding"), "") << refused;
  }
  for (const char* accepted : {"GZIP", "gzip;q=0.5", "*", "br;q=1, *;q=0.1"}) {
    auto r = serve(get("/console/assets/app-1a2b.js", {{"accept-encoding", accepted}}));
    EXPECT_EQ(r.body, "GZ-JS") << accepted;
  }
  // No compressed variant: identity whatever the client accepts, no Vary.
  auto css = serve(get("/console/assets/app-1a2b.css", {{"accept-encoding", "gzip"}}));
  EXPECT_EQ(css.body, "body{}");
  EXPECT_EQ(header(css, "Content-Encoding"), "");
  EXPECT_EQ(header(css, "Vary"), "");
  // The SPA fallback is compressed too.
  auto route = serve(get("/console/queue", {{"accept-encoding", "gzip"}}));
  EXPECT_EQ(route.body, "GZ-INDEX");
}

TEST(ConsoleAssets, IfNoneMatchAnswers304) {
  auto first = serve(get("/console/"));
  const std::string etag = header(first, "ETag");
  auto again = serve(get("/console/", {{"if-none-match", etag}}));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(header(again, "ETag"), etag);
  EXPECT_EQ(header(again, "Cache-Control"), "no-cache");
  expect_security_headers(again);

  auto listed = serve(get("/console/", {{"if-none-match", "\"other\", W/" + etag}}));
  EXPECT_EQ(listed.status, 304);
  auto star = serve(get("/console/assets/app-1a2b.js", {{"if-none-match", "*"}}));
  EXPECT_EQ(star.status, 304);
  auto gz = serve(get("/console/assets/app-1a2b.js", {{"accept-encoding", "gzip"}}));
  auto gz_again = serve(get("/console/assets/app-1a2b.js",
                            {{"accept-encoding", "gzip"}, {"if-none-match", header(gz, "ETag")}}));
  EXPECT_EQ(gz_again.status, 304);

  auto stale = serve(get("/console/", {{"if-none-match", "\"ffffffff\""}}));
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, kTable[0].body);
}

TEST(ConsoleAssets, HeadAnswersLikeGet) {
  auto g = serve(get("/console/assets/app-1a2b.js"));
  auto h = serve(get("/console/assets/app-1a2b.js", {}, "HEAD"));
  // The transport drops HEAD bodies (net::HttpServer) and keeps the GET's Content-Length.
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, g.body);
  EXPECT_EQ(h.content_type, g.content_type);
  EXPECT_EQ(h.headers, g.headers);
}

TEST(ConsoleAssets, OtherMethodsAre405) {
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    auto r = serve(get("/console/", {}, m));
    EXPECT_EQ(r.status, 405) << m;
    EXPECT_EQ(header(r, "Allow"), "GET, HEAD");
    expect_security_headers(r);
  }
}

TEST(ConsoleAssets, RootAndBarePrefixRedirect) {
  auto root = serve(get("/"));
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(header(root, "Location"), "/console/");
  auto bare = serve(get("/console?x=1"));
  EXPECT_EQ(bare.status, 301);
  EXPECT_EQ(header(bare, "Location"), "/console/?x=1");
}

TEST(ConsoleAssets, PathTraversalIsRefused) {
  for (const char* p :
       {"/console/../api/v1/accounts", "/console/assets/../index.html", "/console/./index.html",
        "/console/%2e%2e/etc/passwd", "/console/assets/%2E%2E/%2e%2e/x", "/console/..%2fsecret",
        "/console/assets%2f..%2f..%2fx", "/console/a%5c..%5cb", "/console/a\\b",
        "/console/index.html%00.js", "/console//etc/passwd", "/console/a//b", "/console/%zz",
        "/console/%2f"}) {
    auto r = serve(get(p));
    EXPECT_EQ(r.status, 400) << p;
    EXPECT_NE(r.body, kTable[0].body) << p;
    expect_security_headers(r);
  }
}

TEST(ConsoleAssets, PlaceholderWithoutABuiltConsole) {
  std::span<const ConsoleAsset> none;
  for (const char* p : {"/console/", "/console/domains", "/console/assets/app.js"}) {
    auto r = serve_console(none, get(p));
    EXPECT_EQ(r.status, 200) << p;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("not built"), std::string::npos);
    EXPECT_NE(r.body.find("npm ci"), std::string::npos);
    EXPECT_EQ(r.body.find("<script"), std::string::npos);
    EXPECT_EQ(r.body.find("style="), std::string::npos);
    EXPECT_EQ(header(r, "Cache-Control"), "no-store");
    expect_security_headers(r);
  }
  EXPECT_EQ(serve_console(none, get("/console/../x")).status, 400);
}

TEST(ConsoleAssets, RouterHandsConsolePathsToTheConsole) {
  EXPECT_TRUE(is_console_path("/"));
  EXPECT_TRUE(is_console_path("/console"));
  EXPECT_TRUE(is_console_path("/console/x"));
  EXPECT_FALSE(is_console_path("/consoles"));
  EXPECT_FALSE(is_console_path("/api/v1/console"));
  // api::handle serves the embedded table (or the placeholder) with no auth and no store.
  ApiServices svc;
  auto r = handle(svc, get("/console/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  expect_security_headers(r);
  EXPECT_EQ(handle(svc, get("/console/..%2f")).status, 400);
}

TEST(ConsoleAssets, EmbeddedTableIsWellFormed) {
  // Either no console was built (placeholder) or index.html and hashed assets are there, each
  // with a 32-hex-digit ETag, and every gzip variant really is gzip (magic 1f 8b).
  auto table = embedded_console_assets();
  if (table.empty()) GTEST_SKIP() << "built without console/dist: the placeholder is served";
  bool index = false;
  for (const auto& a : table) {
    if (a.path == "index.html") index = true;
    EXPECT_EQ(a.etag.size(), 32u) << a.path;
    EXPECT_FALSE(a.path.starts_with("/")) << a.path;
    if (!a.gzip.empty()) {
      ASSERT_GE(a.gzip.size(), 2u);
      EXPECT_EQ(static_cast<unsigned char>(a.gzip[0]), 0x1f) << a.path;
      EXPECT_EQ(static_cast<unsigned char>(a.gzip[1]), 0x8b) << a.path;
    }
  }
  EXPECT_TRUE(index);
  auto r = handle_console(get("/console/"));
  EXPECT_NE(r.body.find("<script type=\"module\""), std::string::npos) << r.body.substr(0, 300);
}

}  // namespace
}  // namespace tern::api
