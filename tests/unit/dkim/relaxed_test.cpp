// Relaxed canonicalization (RFC 6376 §3.4.2, §3.4.4) and the streaming BodyHasher: the RFC's
// example, every split of the input, a differential check against a plain reference written
// from the RFC text, and hostile bytes.
#include <openssl/evp.h>

#include <random>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "dkim/signer.hpp"
#include "gtest/gtest.h"

namespace tern::dkim {
namespace {

std::string sha256_b64(std::string_view s) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return core::base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

// A plain, non-streaming reading of §3.4.4, independent of the state machine under test:
// split into lines at CRLF, compress WSP runs, strip WSP at line ends, drop empty lines at the
// end, end a non-empty body with CRLF.
std::string reference_relaxed_body(std::string_view body) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t crlf = body.find("\r\n", pos);
    const size_t end = crlf == std::string_view::npos ? body.size() : crlf;
    lines.emplace_back(body.substr(pos, end - pos));
    pos = crlf == std::string_view::npos ? body.size() : crlf + 2;
  }
  for (auto& line : lines) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      const bool wsp = line[i] == ' ' || line[i] == '\t';
      if (wsp && !out.empty() && out.back() == ' ' && i > 0 &&
          (line[i - 1] == ' ' || line[i - 1] == '\t'))
        continue;
      out.push_back(wsp ? ' ' : line[i]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    line = out;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  for (const auto& line : lines) out += line + "\r\n";
  return out;
}

std::string hash_in_pieces(std::string_view body, const std::vector<size_t>& cuts) {
  BodyHasher h;
  size_t prev = 0;
  for (size_t cut : cuts) {
    h.update(body.substr(prev, cut - prev));
    prev = cut;
  }
  h.update(body.substr(prev));
  return h.finish_b64();
}

// RFC 6376 §3.4.5, the example message:
//   A: <SP> X <CRLF>
//   B <SP> : <SP> Y <HTAB><CRLF>
//   <HTAB> Z <SP><SP><CRLF>
//   <CRLF>
//   <SP> C <SP><CRLF>
//   D <SP><HTAB><SP> E <CRLF>
//   <CRLF>
//   <CRLF>
TEST(Relaxed, Rfc6376ExampleHeaders) {
  EXPECT_EQ(relaxed_header("A: X\r\n"), "a:X\r\n");
  EXPECT_EQ(relaxed_header("B : Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
}

TEST(Relaxed, Rfc6376ExampleBody) {
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  EXPECT_EQ(relaxed_body(body), " C\r\nD E\r\n");
  BodyHasher h;
  h.update(body);
  EXPECT_EQ(h.finish_b64(), sha256_b64(" C\r\nD E\r\n"));
}

TEST(Relaxed, HeaderTable) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"Subject: Hello\r\n", "subject:Hello\r\n"},
      {"SUBJECT:Hello\r\n", "subject:Hello\r\n"},
      {"Subject :   a \t b   \r\n", "subject:a b\r\n"},
      {"Subject:\r\n folded\r\n\tmore \r\n", "subject:folded more\r\n"},
      {"To: a@example.com,\r\n    b@example.com\r\n", "to:a@example.com, b@example.com\r\n"},
      {"X-Empty:\r\n", "x-empty:\r\n"},
      {"X-Empty:   \r\n", "x-empty:\r\n"},
      {"X-Colon: a:b: c\r\n", "x-colon:a:b: c\r\n"},
      {"Subject: no final CRLF", "subject:no final CRLF\r\n"},
      // Bare LF / CR are deleted like CRLF: the canonical field never holds a line break.
      {"Subject: a\nb\r\n", "subject:ab\r\n"},
      {"Subject: a\rb\r\n", "subject:ab\r\n"},
      {"no colon here\r\n", "no colon here:\r\n"},
      {"", ":\r\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(relaxed_header(c.in), c.out) << c.in;
  // Non-ASCII and NUL bytes are kept as they are (only ASCII letters of the name are lowered).
  EXPECT_EQ(relaxed_header(std::string("X-\xC3\x84: \xC3\x84 \0 z\r\n", 14)),
            std::string("x-\xC3\x84:\xC3\x84 \0 z\r\n", 13));
}

TEST(Relaxed, BodyTable) {
  struct Case {
    std::string in;
    std::string out;
  } cases[] = {
      {"", ""},  // relaxed: an empty body is the empty string (simple would be CRLF)
      {"\r\n", ""},
      {"\r\n\r\n\r\n", ""},
      {"   \r\n\t\r\n", ""},
      {"abc", "abc\r\n"},  // a CRLF is added to a non-empty body without one
      {"abc  ", "abc\r\n"},
      {"abc\r\n", "abc\r\n"},
      {"abc\r\n\r\n\r\n", "abc\r\n"},
      {"\r\n\r\nabc\r\n", "\r\n\r\nabc\r\n"},  // leading empty lines stay
      {"a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"},
      {"a  b\t\tc \t d\r\n", "a b c d\r\n"},
      {"  lead\r\n", " lead\r\n"},
      {"\tlead\r\n", " lead\r\n"},
      {"tail \t \r\nx\r\n", "tail\r\nx\r\n"},
      {" \r\nx\r\n", "\r\nx\r\n"},  // a WSP-only line inside the body becomes empty, not dropped
      {"a\nb\r\n", "a\nb\r\n"},     // bare LF: content
      {"a\rb\r\n", "a\rb\r\n"},     // bare CR: content
      {"a \r\r\n", "a \r\r\n"},
      {"a\r", "a\r\r\n"},
      {"\r", "\r\r\n"},
      {std::string("a\0b\r\n", 5), std::string("a\0b\r\n", 5)},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(relaxed_body(c.in), c.out) << testing::PrintToString(c.in);
    EXPECT_EQ(relaxed_body(c.in), reference_relaxed_body(c.in)) << testing::PrintToString(c.in);
  }
}

TEST(BodyHasher, EmptyBodyHashesTheEmptyString) {
  BodyHasher h;
  EXPECT_EQ(h.finish_b64(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  h.update("\r\n\r\n");
  EXPECT_EQ(h.finish_b64(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

TEST(BodyHasher, BodyWithoutFinalCrlfHashesLikeWithOne) {
  BodyHasher a, b;
  a.update("Hello\r\nworld");
  b.update("Hello\r\nworld\r\n");
  EXPECT_EQ(a.finish_b64(), b.finish_b64());
}

TEST(BodyHasher, ReusableAfterFinish) {
  BodyHasher h;
  h.update("first body  \r\n\r\n");
  const std::string first = h.finish_b64();
  h.update("first body  \r\n\r\n");
  EXPECT_EQ(h.finish_b64(), first);
  EXPECT_EQ(first, sha256_b64("first body\r\n"));
}

// The hash never depends on how the body was split: two pieces at every offset, three pieces
// at every pair of offsets, and one byte at a time.
TEST(BodyHasher, EverySplitGivesTheSameHash) {
  const std::vector<std::string> bodies = {
      " C \r\nD \t E\r\n\r\n\r\n",
      "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n",
      "a \r\n \r\n\t\r\nb  \t\r\n\r\n \r\n",
      "x\r\r\n\r\ry \r",
      std::string("\0 \0\t\r\n\0\r\n\r\n", 11),
      "line one\r\nline two \r\n\r\n\r\nline  three\t\r\n\r\n",
  };
  for (const auto& body : bodies) {
    const std::string want = sha256_b64(reference_relaxed_body(body));
    ASSERT_EQ(hash_in_pieces(body, {}), want) << testing::PrintToString(body);
    for (size_t i = 0; i <= body.size(); ++i) {
      ASSERT_EQ(hash_in_pieces(body, {i}), want) << "split at " << i;
      for (size_t j = i; j <= body.size(); ++j)
        ASSERT_EQ(hash_in_pieces(body, {i, j}), want) << "split at " << i << "," << j;
    }
    std::vector<size_t> every;
    for (size_t i = 1; i < body.size(); ++i) every.push_back(i);
    ASSERT_EQ(hash_in_pieces(body, every), want);
  }
}

// Random text over the bytes that matter. Long plain runs come up too (weight of 'a'), so the
// 16-byte block scan is exercised at every alignment, not only the byte-by-byte path.
std::string random_text(std::mt19937& rng, size_t max_len) {
  static const char alphabet[] = {'a', 'b', ' ', ' ', '\t', '\r', '\n', '\r', '\n', '\0', '.'};
  const bool plain = rng() % 2 == 0;
  std::string out;
  const size_t len = rng() % max_len;
  for (size_t i = 0; i < len; ++i) {
    if (plain && rng() % 8 != 0)
      out.push_back(rng() % 6 == 0 ? ' ' : 'a');
    else
      out.push_back(alphabet[rng() % sizeof(alphabet)]);
  }
  return out;
}

// A plain reading of §3.4.2 for one field.
std::string reference_relaxed_header(std::string_view raw) {
  auto compress = [](std::string_view s) {
    std::string unfolded;
    for (char c : s)
      if (c != '\r' && c != '\n') unfolded.push_back(c == '\t' ? ' ' : c);
    std::string out;
    for (char c : unfolded)
      if (!(c == ' ' && (out.empty() || out.back() == ' '))) out.push_back(c);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  };
  const size_t colon = raw.find(':');
  std::string name = compress(raw.substr(0, colon));
  for (char& c : name)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  const std::string value = colon == std::string_view::npos ? "" : compress(raw.substr(colon + 1));
  return name + ":" + value + "\r\n";
}

TEST(Relaxed, HeaderDifferentialAgainstReference) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    const std::string raw = random_text(rng, 8) + (rng() % 4 ? ":" : "") + random_text(rng, 120);
    ASSERT_EQ(relaxed_header(raw), reference_relaxed_header(raw)) << testing::PrintToString(raw);
  }
}

// Random bodies, random splits: streaming == reference.
TEST(BodyHasher, DifferentialAgainstReference) {
  std::mt19937 rng(20250201);
  for (int round = 0; round < 20000; ++round) {
    const std::string body = random_text(rng, 200);
    const size_t len = body.size();
    const std::string ref = reference_relaxed_body(body);
    ASSERT_EQ(relaxed_body(body), ref) << testing::PrintToString(body);
    std::vector<size_t> cuts;
    size_t at = 0;
    while (len > 0 && (at += 1 + rng() % 8) < len) cuts.push_back(at);
    ASSERT_EQ(hash_in_pieces(body, cuts), sha256_b64(ref)) << testing::PrintToString(body);
  }
}

TEST(BodyHasher, LargeBodiesMatchReference) {
  // Long runs cross the hasher's staging buffer and direct-update paths.
  std::string body;
  for (int i = 0; i < 2000; ++i) {
    body += "Line " + std::to_string(i) + " with  some\ttext   and trailing  \r\n";
    if (i % 7 == 0) body += "\r\n\r\n";
    if (i % 13 == 0) body += std::string(300, ' ') + "x" + std::string(5000, 'y') + "\r\n";
  }
  body += std::string(100000, '\r') + "\n";  // many bare CRs
  body += "\r\n\r\n\r\n";
  const std::string want = sha256_b64(reference_relaxed_body(body));
  EXPECT_EQ(hash_in_pieces(body, {}), want);
  EXPECT_EQ(hash_in_pieces(body, {1, 4095, 4096, 4097, 70000, 150000}), want);
}

TEST(BodyHasher, ManyTrailingEmptyLinesThenContent) {
  // 100k pending line ends, then content: all of them are emitted (in chunks), in order.
  std::string body = "a\r\n";
  for (int i = 0; i < 100000; ++i) body += "\r\n";
  body += "b\r\n";
  BodyHasher h;
  h.update(body);
  EXPECT_EQ(h.finish_b64(), sha256_b64(body));
}

}  // namespace
}  // namespace tern::dkim
