#include "journal/record.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace tern::journal::record {

namespace {

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr size_t kTagged = 20;  // header bytes under the tag (all but the tag)

void compute_tag(const uint8_t* fixed, std::string_view payload, uint8_t* out) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kTagSize);
  crypto_generichash_update(&st, fixed, kTagged);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(payload.data()),
                            payload.size());
  crypto_generichash_final(&st, out, kTagSize);
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

void encode(std::string& out, Kind kind, uint64_t seq, std::string_view payload) {
  uint8_t h[kHeaderSize] = {};
  std::memcpy(h, kMagic, 4);
  h[4] = static_cast<uint8_t>(kind);
  put64(h + 8, seq);
  put32(h + 16, static_cast<uint32_t>(payload.size()));
  compute_tag(h, payload, h + kTagged);
  out.append(reinterpret_cast<const char*>(h), kHeaderSize);
  out.append(payload);
}

std::string encode(Kind kind, uint64_t seq, std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  encode(out, kind, seq, payload);
  return out;
}

Scan scan(std::string_view bytes, uint64_t prev_entry_seq, uint64_t prev_applied) {
  Scan s;
  s.last_entry_seq = prev_entry_seq;
  s.applied_seq = prev_applied;
  size_t off = 0;
  auto stop = [&](bool whole_record_bad) {
    const std::string_view rest = bytes.substr(off);
    s.tail = (!whole_record_bad || all_zero(rest)) ? Tail::torn : Tail::corrupt;
  };
  while (off < bytes.size()) {
    const size_t left = bytes.size() - off;
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + off);
    if (left < kHeaderSize) {
      // A short header: torn if what is there could be the start of one.
      const bool could_be = std::memcmp(p, kMagic, std::min<size_t>(left, 4)) == 0;
      stop(!could_be);
      break;
    }
    const bool header_ok = std::memcmp(p, kMagic, 4) == 0 &&
                           (p[4] == static_cast<uint8_t>(Kind::entry) ||
                            p[4] == static_cast<uint8_t>(Kind::applied)) &&
                           p[5] == 0 && p[6] == 0 && p[7] == 0;
    const uint32_t len = get32(p + 16);
    if (!header_ok || len > kMaxPayload) {
      stop(true);
      break;
    }
    if (left - kHeaderSize < len) {  // the payload did not reach the disk
      stop(false);
      break;
    }
    const std::string_view payload = bytes.substr(off + kHeaderSize, len);
    uint8_t tag[kTagSize];
    compute_tag(p, payload, tag);
    if (sodium_memcmp(tag, p + kTagged, kTagSize) != 0) {
      stop(true);
      break;
    }
    Record r{static_cast<Kind>(p[4]), get64(p + 8), payload};
    if (r.kind == Kind::entry) {
      if (r.seq <= s.last_entry_seq) {  // out of order: not a record we wrote here
        s.tail = Tail::corrupt;
        break;
      }
      s.last_entry_seq = r.seq;
    } else {
      s.applied_seq = std::max(s.applied_seq, r.seq);
    }
    s.records.push_back(r);
    off += kHeaderSize + len;
    s.valid_bytes = off;
  }
  return s;
}

}  // namespace tern::journal::record
