#include "tracking/transfer_encoding.hpp"

#include <gtest/gtest.h>

#include <random>

namespace tern::tracking {
namespace {

void expect_qp_lines_ok(const std::string& enc) {
  size_t pos = 0;
  while (pos < enc.size()) {
    size_t eol = enc.find("\r\n", pos);
    size_t end = eol == std::string::npos ? enc.size() : eol;
    EXPECT_LE(end - pos, 76u) << enc.substr(pos, end - pos);
    std::string line = enc.substr(pos, end - pos);
    if (!line.empty()) {
      EXPECT_FALSE(line.back() == ' ' || line.back() == '\t') << line;
    }
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE((u >= 32 && u < 127) || u == 9) << int(u);
    }
    if (eol == std::string::npos) break;
    pos = eol + 2;
  }
}

TEST(QuotedPrintable, DecodesRfc2045Forms) {
  EXPECT_EQ(qp_decode("a=3Db=3db"), "a=b=b");
  EXPECT_EQ(qp_decode("soft=\r\nbreak"), "softbreak");
  EXPECT_EQ(qp_decode("soft= \t\r\nbreak"), "softbreak");
  EXPECT_EQ(qp_decode("hard  \r\nbreak\r\n"), "hard\r\nbreak\r\n");
  EXPECT_EQ(qp_decode("bad=ZZ and =4"), "bad=ZZ and =4");
  EXPECT_EQ(qp_decode("end="), "end");
  EXPECT_EQ(qp_decode(std::string("nul=00x", 7)), std::string("nul\0x", 5));
}

TEST(QuotedPrintable, EncodesShortLinesAndRoundTrips) {
  std::string html = "<a href=\"https://example.com/" + std::string(300, 'x') +
                     "\">caf\xc3\xa9 = ok</a> \r\nline with trailing space \r\n\tTab\r\n";
  auto enc = qp_encode(html);
  expect_qp_lines_ok(enc);
  EXPECT_EQ(qp_decode(enc), html);
  EXPECT_NE(enc.find("=C3=A9"), std::string::npos);
  EXPECT_NE(enc.find("=3D"), std::string::npos);
}

TEST(QuotedPrintable, BareCrAndLfAreEncodedNotLineBreaks) {
  std::string in = "a\nb\rc\r\r\nd\n";
  auto enc = qp_encode(in);
  expect_qp_lines_ok(enc);
  EXPECT_NE(enc.find("=0A"), std::string::npos);
  EXPECT_NE(enc.find("=0D"), std::string::npos);
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] == '\n') {
      EXPECT_TRUE(i > 0 && enc[i - 1] == '\r');
    }
    if (enc[i] == '\r') {
      EXPECT_TRUE(i + 1 < enc.size() && enc[i + 1] == '\n');
    }
  }
  EXPECT_EQ(qp_decode(enc), in);
}

TEST(QuotedPrintable, RandomRoundTrip) {
  std::mt19937 rng(5);
  for (int n = 0; n < 500; ++n) {
    std::string s(rng() % 400, '\0');
    for (char& c : s) {
      int k = rng() % 10;
      c = k < 6   ? static_cast<char>('a' + rng() % 26)
          : k < 7 ? ' '
          : k < 8 ? '\r'
          : k < 9 ? '\n'
                  : static_cast<char>(rng());
    }
    auto enc = qp_encode(s);
    expect_qp_lines_ok(enc);
    ASSERT_EQ(qp_decode(enc), s);
  }
}

TEST(Base64Lines, SeventySixPerLineAndRoundTrip) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  auto enc = base64_lines_encode(data);
  size_t pos = 0, lines = 0;
  while (pos < enc.size()) {
    size_t eol = enc.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    if (eol + 2 < enc.size()) {
      EXPECT_EQ(eol - pos, 76u);
    } else {
      EXPECT_LE(eol - pos, 76u);
    }
    pos = eol + 2;
    ++lines;
  }
  EXPECT_EQ(lines, (1336 + 75) / 76);
  auto dec = base64_lines_decode(enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ(*dec, data);
}

TEST(Base64Lines, DecodesOneHugeLineAndRejectsGarbage) {
  std::string data(300000, 'h');
  std::string flat = base64_lines_encode(data);
  std::string one_line;
  for (char c : flat)
    if (c != '\r' && c != '\n') one_line += c;
  auto dec = base64_lines_decode(one_line);
  ASSERT_TRUE(dec);
  EXPECT_EQ(*dec, data);
  EXPECT_FALSE(base64_lines_decode("QUJD*REVG"));
  EXPECT_FALSE(base64_lines_decode("QUJ"));
  EXPECT_FALSE(base64_lines_decode(std::string("QU\0JD", 5)));
  EXPECT_EQ(base64_lines_decode("QU JD\r\n").value_or("?"), "ABC");
}

}  // namespace
}  // namespace tern::tracking
