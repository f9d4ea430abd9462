// Response messages built byte by byte: normal answers, CNAME chains, compression, and hostile
// messages (pointer loops, lengths past the end) that must give temp_error, never a crash.
#include "dns/wire.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace tern::dns;
using S = Answer::Status;

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}

Bytes name(const std::string& n) {
  Bytes b;
  size_t start = 0;
  while (start < n.size()) {
    size_t dot = n.find('.', start);
    if (dot == std::string::npos) dot = n.size();
    b.push_back(uint8_t(dot - start));
    b.insert(b.end(), n.begin() + long(start), n.begin() + long(dot));
    start = dot + 1;
  }
  b.push_back(0);
  return b;
}

struct Msg {
  Bytes b;
  uint16_t ancount = 0;
  explicit Msg(const std::string& qname, uint16_t qtype, unsigned rcode = 0) {
    put16(b, 0x1234);
    put16(b, uint16_t(0x8180 | rcode));
    put16(b, 1);
    put16(b, 0);  // ancount, patched
    put16(b, 0);
    put16(b, 0);
    Bytes q = name(qname);
    b.insert(b.end(), q.begin(), q.end());
    put16(b, qtype);
    put16(b, 1);
  }
  void rr(const Bytes& owner, uint16_t type, const Bytes& rdata, uint16_t cls = 1) {
    b.insert(b.end(), owner.begin(), owner.end());
    put16(b, type);
    put16(b, cls);
    b.insert(b.end(), {0, 0, 0, 60});
    put16(b, uint16_t(rdata.size()));
    b.insert(b.end(), rdata.begin(), rdata.end());
    ++ancount;
    b[6] = uint8_t(ancount >> 8);
    b[7] = uint8_t(ancount);
  }
  Answer parse(const std::string& q, RType t) const {
    return parse_response(b.data(), b.size(), q, t);
  }
};

Bytes txt(std::initializer_list<std::string> parts) {
  Bytes b;
  for (const auto& p : parts) {
    b.push_back(uint8_t(p.size()));
    b.insert(b.end(), p.begin(), p.end());
  }
  return b;
}

constexpr uint16_t kQname = 12;  // offset of the question name: the usual compression target

Bytes ptr(uint16_t off) { return {uint8_t(0xC0 | (off >> 8)), uint8_t(off)}; }

}  // namespace

TEST(Wire, TxtStringsJoinedPerRecord) {
  Msg m("example.com", 16);
  m.rr(ptr(kQname), 16, txt({"v=spf1 ", "ip4:192.0.2.1 ", "-all"}));
  m.rr(ptr(kQname), 16, txt({"other"}));
  Answer a = m.parse("Example.COM.", RType::TXT);
  ASSERT_EQ(a.status, S::ok) << a.error;
  EXPECT_EQ(a.txt, (std::vector<std::string>{"v=spf1 ip4:192.0.2.1 -all", "other"}));
  EXPECT_EQ(a.canonical_name, "example.com");
}

TEST(Wire, TxtWithNulAndEmptyStringsKept) {
  Msg m("example.com", 16);
  m.rr(ptr(kQname), 16, txt({std::string("a\0b", 3), "", "c"}));
  Answer a = m.parse("example.com", RType::TXT);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.txt.at(0), std::string("a\0bc", 4));
}

TEST(Wire, CnameChainAcrossZonesWithCompression) {
  Msg m("sel._domainkey.example.com", 16);
  size_t target_at = m.b.size() + 2 + 10;  // rdata of the first record
  Bytes t1 = name("sel-acme._domainkey.dkim.platform.test");
  m.rr(ptr(kQname), 5, t1);
  m.rr(ptr(uint16_t(target_at)), 16, txt({"v=DKIM1; ", "p=KEY"}));
  Answer a = m.parse("sel._domainkey.example.com", RType::TXT);
  ASSERT_EQ(a.status, S::ok) << a.error;
  EXPECT_EQ(a.cnames, std::vector<std::string>{"sel-acme._domainkey.dkim.platform.test"});
  EXPECT_EQ(a.canonical_name, "sel-acme._domainkey.dkim.platform.test");
  EXPECT_EQ(a.txt, std::vector<std::string>{"v=DKIM1; p=KEY"});
}

TEST(Wire, RecordsOfOtherOwnersIgnored) {
  Msg m("a.example.com", 1);
  m.rr(name("b.example.com"), 1, {192, 0, 2, 9});
  m.rr(ptr(kQname), 1, {192, 0, 2, 1});
  m.rr(ptr(kQname), 1, {192, 0, 2, 2}, /*cls=*/3);  // CHAOS class: not ours
  Answer a = m.parse("a.example.com", RType::A);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.addrs, std::vector<std::string>{"192.0.2.1"});
}

TEST(Wire, MxSortedAndAaaaText) {
  Msg m("example.com", 15);
  Bytes mx2{0, 20};
  Bytes n2 = name("MX2.example.com");
  mx2.insert(mx2.end(), n2.begin(), n2.end());
  Bytes mx1{0, 10, 3, 'm', 'x', '1'};
  Bytes p = ptr(kQname);
  mx1.insert(mx1.end(), p.begin(), p.end());
  m.rr(ptr(kQname), 15, mx2);
  m.rr(ptr(kQname), 15, mx1);
  Answer a = m.parse("example.com", RType::MX);
  ASSERT_EQ(a.status, S::ok) << a.error;
  ASSERT_EQ(a.mx.size(), 2u);
  EXPECT_EQ(a.mx[0].host, "mx1.example.com");
  EXPECT_EQ(a.mx[1].host, "mx2.example.com");

  Msg six("h.example.com", 28);
  six.rr(ptr(kQname), 28, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  EXPECT_EQ(six.parse("h.example.com", RType::AAAA).addrs, std::vector<std::string>{"2001:db8::1"});
}

TEST(Wire, Statuses) {
  EXPECT_EQ(Msg("x.example.com", 16, 3).parse("x.example.com", RType::TXT).status, S::nxdomain);
  EXPECT_EQ(Msg("x.example.com", 16, 0).parse("x.example.com", RType::TXT).status, S::nodata);
  Answer sf = Msg("x.example.com", 16, 2).parse("x.example.com", RType::TXT);
  EXPECT_EQ(sf.status, S::temp_error);
  EXPECT_EQ(sf.error, "SERVFAIL");
  EXPECT_EQ(Msg("x.example.com", 16, 5).parse("x.example.com", RType::TXT).status, S::temp_error);
  // CNAME into a name that does not exist: NXDOMAIN with the chain reported.
  Msg m("x.example.com", 1, 3);
  m.rr(ptr(kQname), 5, name("gone.example.net"));
  Answer a = m.parse("x.example.com", RType::A);
  EXPECT_EQ(a.status, S::nxdomain);
  EXPECT_EQ(a.cnames, std::vector<std::string>{"gone.example.net"});
}

TEST(Wire, CnameLoopInMessageIsTempError) {
  Msg m("a.example.com", 1);
  m.rr(name("a.example.com"), 5, name("b.example.com"));
  m.rr(name("b.example.com"), 5, name("a.example.com"));
  EXPECT_EQ(m.parse("a.example.com", RType::A).status, S::temp_error);
}

TEST(Wire, HostileMessages) {
  // Shorter than a header.
  uint8_t tiny[5] = {0};
  EXPECT_EQ(parse_response(tiny, sizeof tiny, "x.test", RType::A).status, S::temp_error);

  // Self-pointing compression pointer in the owner name.
  {
    Msg m("x.test", 1);
    size_t at = m.b.size();
    m.rr(ptr(uint16_t(at)), 1, {1, 2, 3, 4});
    EXPECT_EQ(m.parse("x.test", RType::A).status, S::temp_error);
  }
  // Forward pointer.
  {
    Msg m("x.test", 1);
    m.rr(ptr(0x3FFF), 1, {1, 2, 3, 4});
    EXPECT_EQ(m.parse("x.test", RType::A).status, S::temp_error);
  }
  // rdlength past the end.
  {
    Msg m("x.test", 16);
    m.rr(ptr(kQname), 16, txt({"abc"}));
    m.b[m.b.size() - 5] = 0xFF;  // rdlength low byte
    EXPECT_EQ(m.parse("x.test", RType::TXT).status, S::temp_error);
  }
  // TXT string length past its record.
  {
    Msg m("x.test", 16);
    m.rr(ptr(kQname), 16, Bytes{10, 'a', 'b'});
    EXPECT_EQ(m.parse("x.test", RType::TXT).status, S::temp_error);
  }
  // A record of the wrong size.
  {
    Msg m("x.test", 1);
    m.rr(ptr(kQname), 1, Bytes{1, 2, 3});
    EXPECT_EQ(m.parse("x.test", RType::A).status, S::temp_error);
  }
  // Answer count larger than the records present.
  {
    Msg m("x.test", 1);
    m.b[7] = 9;
    EXPECT_EQ(m.parse("x.test", RType::A).status, S::temp_error);
  }
  // Name longer than 255 octets through chained pointers.
  {
    Msg m("x.test", 1);
    Bytes big;
    for (int i = 0; i < 5; ++i) {
      big.push_back(63);
      big.insert(big.end(), 63, 'a');
    }
    big.push_back(0);
    m.rr(big, 1, {1, 2, 3, 4});
    EXPECT_EQ(m.parse("x.test", RType::A).status, S::temp_error);
  }
  // Every truncation of a valid message fails cleanly (no read past the buffer under ASan).
  {
    Msg m("example.com", 16);
    m.rr(ptr(kQname), 16, txt({"v=spf1 -all"}));
    for (size_t n = 0; n < m.b.size(); ++n)
      EXPECT_EQ(parse_response(m.b.data(), n, "example.com", RType::TXT).status, S::temp_error)
          << n;
  }
}

TEST(Wire, OddLabelBytesAreEscaped) {
  Msg m("x.test", 5);
  Bytes target{3, 'a', '.', 'b', 2, 0x01, ' ', 4, 't', 'e', 's', 't', 0};
  m.rr(ptr(kQname), 5, target);
  Answer a = m.parse("x.test", RType::CNAME);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.cnames.at(0), "a\\.b.\\001\\032.test");
}
