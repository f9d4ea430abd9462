#include "dns/wire.hpp"

#include <algorithm>
#include <optional>

#include "dns/ip.hpp"
#include "dns/names.hpp"

namespace tern::dns {

namespace {

constexpr size_t kHeader = 12;
constexpr int kMaxChain = 16;
constexpr uint16_t kClassIn = 1;

struct Reader {
  const uint8_t* p;
  size_t n;

  std::optional<uint16_t> u16(size_t at) const {
    if (at + 2 > n) return std::nullopt;
    return uint16_t(p[at] << 8 | p[at + 1]);
  }

  // Reads a possibly compressed name at `at`. On success `next` is the offset just after the
  // name as it sits at `at` (after the first pointer, if any).
  std::optional<std::string> name(size_t at, size_t& next) const {
    std::string out;
    size_t wire_len = 0;  // octets of the uncompressed name, root label included
    bool jumped = false;
    size_t pos = at;
    size_t lowest = at;  // every pointer must go below the lowest offset seen so far
    for (;;) {
      if (pos >= n) return std::nullopt;
      uint8_t len = p[pos];
      if ((len & 0xC0) == 0xC0) {
        if (pos + 2 > n) return std::nullopt;
        size_t target = size_t(len & 0x3F) << 8 | p[pos + 1];
        if (target >= lowest) return std::nullopt;  // forward or self pointer: a loop risk
        if (!jumped) next = pos + 2;
        jumped = true;
        lowest = target;
        pos = target;
        continue;
      }
      if (len & 0xC0) return std::nullopt;  // 0x40 / 0x80 label types are obsolete
      wire_len += 1 + len;
      if (wire_len > 255) return std::nullopt;
      if (len == 0) {
        if (!jumped) next = pos + 1;
        return out;
      }
      if (pos + 1 + len > n) return std::nullopt;
      if (!out.empty()) out += '.';
      for (size_t i = 0; i < len; ++i) {
        unsigned char c = p[pos + 1 + i];
        if (c >= 'A' && c <= 'Z') c = c - 'A' + 'a';
        if (c == '.' || c == '\\') {
          out += '\\';
          out += char(c);
        } else if (c <= 0x20 || c >= 0x7f) {
          char esc[5];
          esc[0] = '\\';
          esc[1] = char('0' + c / 100);
          esc[2] = char('0' + c / 10 % 10);
          esc[3] = char('0' + c % 10);
          esc[4] = 0;
          out += esc;
        } else {
          out += char(c);
        }
      }
      pos += 1 + len;
    }
  }
};

struct Rr {
  std::string owner;
  uint16_t type;
  size_t rdata;  // offset
  uint16_t rdlen;
};

Answer fail(std::string why) {
  Answer a;
  a.status = Answer::Status::temp_error;
  a.error = "malformed DNS response: " + std::move(why);
  return a;
}

}  // namespace

Answer parse_response(const uint8_t* msg, size_t len, const std::string& qname, RType type) {
  Reader r{msg, len};
  if (len < kHeader) return fail("shorter than a header");
  uint16_t flags = *r.u16(2);
  uint16_t qd = *r.u16(4), an = *r.u16(6);
  unsigned rcode = flags & 0x0F;
  if (rcode != 0 && rcode != 3) {
    Answer a;
    a.status = Answer::Status::temp_error;
    static const char* names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                  "NXDOMAIN", "NOTIMP",  "REFUSED"};
    a.error = rcode < 6 ? names[rcode] : "RCODE " + std::to_string(rcode);
    return a;
  }

  size_t pos = kHeader;
  for (unsigned i = 0; i < qd; ++i) {
    size_t next = 0;
    if (!r.name(pos, next)) return fail("bad question name");
    pos = next + 4;
    if (pos > len) return fail("truncated question");
  }
  std::vector<Rr> rrs;
  for (unsigned i = 0; i < an; ++i) {
    size_t next = 0;
    auto owner = r.name(pos, next);
    if (!owner) return fail("bad owner name");
    pos = next;
    if (pos + 10 > len) return fail("truncated record header");
    Rr rr{std::move(*owner), *r.u16(pos), pos + 10, *r.u16(pos + 8)};
    uint16_t cls = *r.u16(pos + 2);
    pos += 10;
    if (pos + rr.rdlen > len) return fail("record data past the end");
    pos += rr.rdlen;
    if (cls == kClassIn) rrs.push_back(std::move(rr));
  }

  Answer a;
  std::string current = normalize_name(qname);
  auto cname_of = [&](const std::string& owner) -> std::optional<std::string> {
    for (const Rr& rr : rrs) {
      if (rr.type != uint16_t(RType::CNAME) || rr.owner != owner) continue;
      size_t next = 0;
      auto target = r.name(rr.rdata, next);
      if (!target || next != rr.rdata + rr.rdlen) return std::string();  // "" = malformed
      return target;
    }
    return std::nullopt;
  };

  if (type == RType::CNAME) {
    if (auto t = cname_of(current)) {
      if (t->empty()) return fail("bad CNAME target");
      a.cnames.push_back(*t);
      current = *t;
    }
    a.canonical_name = current;
    a.status = a.cnames.empty() ? (rcode == 3 ? Answer::Status::nxdomain : Answer::Status::nodata)
                                : Answer::Status::ok;
    return a;
  }

  for (int links = 0;; ++links) {
    auto t = cname_of(current);
    if (!t) break;
    if (t->empty()) return fail("bad CNAME target");
    if (links == kMaxChain || std::find(a.cnames.begin(), a.cnames.end(), *t) != a.cnames.end()) {
      Answer loop;
      loop.status = Answer::Status::temp_error;
      loop.error = "CNAME chain too long or looping at " + *t;
      return loop;
    }
    a.cnames.push_back(*t);
    current = *t;
  }
  a.canonical_name = current;

  for (const Rr& rr : rrs) {
    if (rr.type != uint16_t(type) || rr.owner != current) continue;
    const uint8_t* d = msg + rr.rdata;
    switch (type) {
      case RType::A:
        if (rr.rdlen != 4) return fail("A record of " + std::to_string(rr.rdlen) + " octets");
        a.addrs.push_back(IpAddr::from_v4(d).to_string());
        break;
      case RType::AAAA:
        if (rr.rdlen != 16) return fail("AAAA record of " + std::to_string(rr.rdlen) + " octets");
        a.addrs.push_back(IpAddr::from_v6(d).to_string());
        break;
      case RType::MX: {
        if (rr.rdlen < 3) return fail("short MX record");
        size_t next = 0;
        auto host = r.name(rr.rdata + 2, next);
        if (!host || next != rr.rdata + rr.rdlen) return fail("bad MX exchange");
        a.mx.push_back({uint16_t(d[0] << 8 | d[1]), *host});
        break;
      }
      case RType::TXT: {
        std::string text;
        size_t i = 0;
        while (i < rr.rdlen) {
          size_t l = d[i];
          if (i + 1 + l > rr.rdlen) return fail("TXT string past the record");
          text.append(reinterpret_cast<const char*>(d + i + 1), l);
          i += 1 + l;
        }
        a.txt.push_back(std::move(text));
        break;
      }
      case RType::CNAME:
        break;  // handled above
    }
  }
  std::stable_sort(a.mx.begin(), a.mx.end(), [](const Mx& x, const Mx& y) {
    return x.preference != y.preference ? x.preference < y.preference : x.host < y.host;
  });
  bool data = !a.txt.empty() || !a.mx.empty() || !a.addrs.empty();
  a.status =
      data ? Answer::Status::ok : (rcode == 3 ? Answer::Status::nxdomain : Answer::Status::nodata);
  return a;
}

}  // namespace tern::dns
