#include "smtp/data_decoder.hpp"

#include <gtest/gtest.h>

using tern::smtp::DataDecoder;

namespace {
struct Out {
  std::string content;
  size_t consumed = 0;
  bool done = false, bare_cr = false, bare_lf = false, nul = false, long_line = false,
       oversize = false, eight_bit = false;
  bool operator==(const Out&) const = default;
};

Out decode_split(const std::string& in, size_t cut, uint64_t max_size = 1000,
                 size_t max_line = 998) {
  DataDecoder d(max_size, max_line);
  Out o;
  o.consumed = d.push(std::string_view(in).substr(0, cut), o.content);
  if (!d.done()) o.consumed += d.push(std::string_view(in).substr(cut), o.content);
  o.done = d.done();
  o.bare_cr = d.bare_cr();
  o.bare_lf = d.bare_lf();
  o.nul = d.nul();
  o.long_line = d.long_line();
  o.oversize = d.oversize();
  o.eight_bit = d.eight_bit();
  return o;
}

// Decodes whole, then at every split, then byte by byte; all must agree.
Out decode(const std::string& in, uint64_t max_size = 1000, size_t max_line = 998) {
  Out whole = decode_split(in, in.size(), max_size, max_line);
  for (size_t cut = 0; cut <= in.size(); ++cut)
    EXPECT_EQ(decode_split(in, cut, max_size, max_line), whole) << "cut " << cut;
  DataDecoder d(max_size, max_line);
  Out b;
  for (char c : in)
    if (!d.done()) b.consumed += d.push(std::string_view(&c, 1), b.content);
  EXPECT_EQ(b.content, whole.content);
  EXPECT_EQ(b.consumed, whole.consumed);
  return whole;
}
}  // namespace

TEST(DataDecoder, EndsOnlyOnCrLfDotCrLf) {
  auto o = decode("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.content, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(o.consumed, std::string("Subject: x\r\n\r\nbody\r\n.\r\n").size());
  EXPECT_FALSE(o.bare_cr || o.bare_lf || o.nul || o.long_line || o.oversize);
  auto e = decode(".\r\n");
  EXPECT_TRUE(e.done);
  EXPECT_EQ(e.content, "");
}

TEST(DataDecoder, DotUnstuffing) {
  auto o = decode("..a\r\n...\r\n.\r\n");
  EXPECT_EQ(o.content, ".a\r\n..\r\n");
  EXPECT_TRUE(o.done);
}

TEST(DataDecoder, SmugglingPayloadsDoNotEnd) {
  for (const std::string& p :
       std::vector<std::string>{"\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r\n.\rX",
                                std::string("\r\n\0.\r\n", 6), "\r\n.\n", ".\n"}) {
    auto o = decode("x" + p + "MAIL FROM:<a@b.c>\r\n");
    EXPECT_FALSE(o.done) << "payload must not end data";
    EXPECT_TRUE(o.bare_cr || o.bare_lf || o.nul);
    auto fin = decode("x" + p + "y\r\n.\r\n");
    EXPECT_TRUE(fin.done);
  }
  auto o = decode("a\n.\nb\r\n.\r\n");
  EXPECT_TRUE(o.bare_lf);
  EXPECT_FALSE(o.bare_cr);
  EXPECT_EQ(o.content, "a\n.\nb\r\n");
  auto c = decode("a\r.\r\n.\r\n");
  EXPECT_TRUE(c.bare_cr);
  EXPECT_EQ(c.content, "a\r.\r\n");
}

TEST(DataDecoder, NulLongLineAndOversize) {
  EXPECT_TRUE(decode(std::string("a\0b\r\n.\r\n", 8)).nul);
  EXPECT_FALSE(decode(std::string(10, 'x') + "\r\n.\r\n", 1000, 10).long_line);
  EXPECT_TRUE(decode(std::string(11, 'x') + "\r\n.\r\n", 1000, 10).long_line);
  EXPECT_FALSE(decode("." + std::string(10, 'x') + "\r\n.\r\n", 1000, 10)
                   .long_line);  // stuffing dot not counted
  auto big = decode(std::string(50, 'x') + "\r\n" + std::string(50, 'y') + "\r\n.\r\nNOOP\r\n", 60);
  EXPECT_TRUE(big.done);
  EXPECT_TRUE(big.oversize);
  EXPECT_EQ(big.content.size(), 60u);  // nothing stored past the limit
  EXPECT_FALSE(decode(std::string(58, 'x') + "\r\n.\r\n", 60).oversize);
  EXPECT_TRUE(decode(std::string(59, 'x') + "\r\n.\r\n", 60).oversize);
}

// RFC 6152: any octet above 127 in the content marks it 8-bit, wherever it is (header, body, a
// line start after a stuffing dot); the terminator and what follows it do not count.
TEST(DataDecoder, EightBitOctetsAreNoticed) {
  EXPECT_FALSE(decode("Subject: x\r\n\r\nplain\r\n.\r\n").eight_bit);
  EXPECT_TRUE(decode("Subject: M\xfcller\r\n\r\nx\r\n.\r\n").eight_bit);
  EXPECT_TRUE(decode("x\r\n\xc3\xa9\r\n.\r\n").eight_bit);
  EXPECT_TRUE(decode("x\r\n.\xe9\r\n.\r\n").eight_bit);
  EXPECT_FALSE(decode("x\r\n.\r\n\xe9\xe9").eight_bit);  // after the end: not content
}
