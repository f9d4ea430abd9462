#include "tracking/html_links.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tern::tracking {
namespace {

// Records each destination and replaces it with T<n>.
struct Recorder {
  std::vector<std::string> urls;
  std::function<std::optional<std::string>(const std::string&)> fn() {
    return [this](const std::string& u) -> std::optional<std::string> {
      urls.push_back(u);
      return "https://t.example/t/c/T" + std::to_string(urls.size() - 1);
    };
  }
};

const std::string kPrefix = "https://t.example/t/";
const std::string kPixel = "<img src=\"https://t.example/t/o/P\">";

TEST(HttpUrlOfHref, DecodesEntitiesAndChecksScheme) {
  EXPECT_EQ(http_url_of_href("https://a.example/?x=1&amp;y=2").value_or(""),
            "https://a.example/?x=1&y=2");
  EXPECT_EQ(http_url_of_href("  HTTP://A.example/&#38;&#x26;&lt;&quot;\n ").value_or(""),
            "HTTP://A.example/&&<\"");
  EXPECT_EQ(http_url_of_href("ht\ttp://a.example/").value_or(""), "http://a.example/");
  EXPECT_EQ(http_url_of_href("https://a.example/&unknown;&#xFFFFFFFFFF;").value_or(""),
            "https://a.example/&unknown;\xef\xbf\xbd");
  EXPECT_FALSE(http_url_of_href("mailto:a@b.example"));
  EXPECT_FALSE(http_url_of_href("tel:+123"));
  EXPECT_FALSE(http_url_of_href("#top"));
  EXPECT_FALSE(http_url_of_href("/relative"));
  EXPECT_FALSE(http_url_of_href("javascript:alert(1)"));
  EXPECT_FALSE(http_url_of_href("https:///nohost"));
  EXPECT_FALSE(http_url_of_href("https://"));
  EXPECT_FALSE(http_url_of_href(""));
}

TEST(RewriteHtml, RewritesAnchorsAndAreasOnly) {
  Recorder rec;
  std::string in =
      "<html><body><p><a class=x href=\"https://a.example/1?q=1&amp;r=2\">one</a>"
      "<A HREF='http://b.example/2'>two</A><area shape=rect href=https://c.example/3>"
      "<img src=\"https://d.example/img.png\"><link href=\"https://e.example/style.css\">"
      "<a href=\"mailto:x@y.example\">m</a><a href=\"tel:123\">t</a><a href=\"#top\">#</a>"
      "<a href=\"https://t.example/t/c/OLD\">tracked</a><a name=anchor>n</a></p></body></html>";
  auto r = rewrite_html(in, kPrefix, rec.fn(), kPixel);
  ASSERT_EQ(rec.urls.size(), 3u);
  EXPECT_EQ(rec.urls[0], "https://a.example/1?q=1&r=2");
  EXPECT_EQ(rec.urls[1], "http://b.example/2");
  EXPECT_EQ(rec.urls[2], "https://c.example/3");
  EXPECT_EQ(r.links, 3u);
  EXPECT_TRUE(r.pixel);
  std::string want =
      "<html><body><p><a class=x href=\"https://t.example/t/c/T0\">one</a>"
      "<A HREF=\"https://t.example/t/c/T1\">two</A><area shape=rect "
      "href=\"https://t.example/t/c/T2\">"
      "<img src=\"https://d.example/img.png\"><link href=\"https://e.example/style.css\">"
      "<a href=\"mailto:x@y.example\">m</a><a href=\"tel:123\">t</a><a href=\"#top\">#</a>"
      "<a href=\"https://t.example/t/c/OLD\">tracked</a><a name=anchor>n</a></p>" +
      kPixel + "</body></html>";
  EXPECT_EQ(r.html, want);
}

TEST(RewriteHtml, PixelAppendedWithoutBodyBeforeTrailingLineBreaks) {
  Recorder rec;
  auto r = rewrite_html("<p>hi</p>\r\n\r\n", kPrefix, rec.fn(), kPixel);
  EXPECT_EQ(r.html, "<p>hi</p>" + kPixel + "\r\n\r\n");
  auto last = rewrite_html("<body>a</body>x</BODY >", kPrefix, rec.fn(), kPixel);
  EXPECT_EQ(last.html, "<body>a</body>x" + kPixel + "</BODY >");
}

TEST(RewriteHtml, QuotesInsideUrlsAndOddAttributes) {
  Recorder rec;
  std::string in =
      "<a title='say \"hi\"' href=\"https://a.example/it's\">x</a>"
      "<a href='https://b.example/\"q\"'>y</a>"
      "<a href = \"https://c.example/sp\" >z</a>"
      "<a hrefx=\"https://no.example/\" data-href=\"https://no2.example/\">n</a>"
      "<a href=\"https://d.example/first\" href=\"https://d.example/second\">dup</a>";
  auto r = rewrite_html(in, kPrefix, rec.fn(), "");
  ASSERT_EQ(rec.urls.size(), 4u);
  EXPECT_EQ(rec.urls[0], "https://a.example/it's");
  EXPECT_EQ(rec.urls[1], "https://b.example/\"q\"");
  EXPECT_EQ(rec.urls[2], "https://c.example/sp");
  EXPECT_EQ(rec.urls[3], "https://d.example/first");
  EXPECT_FALSE(r.pixel);
  EXPECT_NE(r.html.find("<a title='say \"hi\"' href=\"https://t.example/t/c/T0\">x</a>"),
            std::string::npos);
  EXPECT_NE(r.html.find("href=\"https://t.example/t/c/T3\" href=\"https://d.example/second\""),
            std::string::npos);
}

TEST(RewriteHtml, CommentsAndRawTextAreNotLinks) {
  Recorder rec;
  std::string in =
      "<!-- <a href=\"https://c.example/\"> --><script>var s='<a href=\"https://s.example/\">';"
      "</script><style>a{}</style><title><a href=\"https://t2.example/\"></title>"
      "<a href=\"https://real.example/\">r</a>";
  auto r = rewrite_html(in, kPrefix, rec.fn(), "");
  ASSERT_EQ(rec.urls.size(), 1u);
  EXPECT_EQ(rec.urls[0], "https://real.example/");
}

TEST(RewriteHtml, UnterminatedMarkupStopsRewritingAndKeepsTheRest) {
  for (std::string tail :
       {std::string("<a href=\"https://x.example/"), std::string("<a href=https://x.example/"),
        std::string("<!-- <a href=\"https://x.example/\">"),
        std::string("<a href=\"https://x.example/\""), std::string("<a href="), std::string("<"),
        std::string("<a")}) {
    Recorder rec;
    std::string in = "<a href=\"https://ok.example/\">ok</a>" + tail;
    auto r = rewrite_html(in, kPrefix, rec.fn(), kPixel);
    ASSERT_EQ(rec.urls.size(), 1u) << tail;
    EXPECT_EQ(r.html, "<a href=\"https://t.example/t/c/T0\">ok</a>" + tail + kPixel) << tail;
  }
}

TEST(RewriteHtml, NulBytesAndMintRefusalKeepOriginal) {
  static constexpr char kIn[] =
      "<a href=\"https://a.example/\0x\">\0</a><a href=\"https://b.example/\">b</a>";
  std::string in(kIn, sizeof kIn - 1);
  int calls = 0;
  auto refuse_first = [&](const std::string&) -> std::optional<std::string> {
    if (calls++ == 0) return std::nullopt;
    return std::string("https://t.example/t/c/B");
  };
  auto r = rewrite_html(in, kPrefix, refuse_first, "");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.links, 1u);
  std::string want(in);
  want.replace(want.find("https://b.example/"), 18, "https://t.example/t/c/B");
  EXPECT_EQ(r.html, want);
}

}  // namespace
}  // namespace tern::tracking
