#include "journal/record.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <optional>

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

namespace {

bool framing_ok(const uint8_t* p) {
  return std::memcmp(p, kMagic, 4) == 0 &&
         (p[4] == static_cast<uint8_t>(Kind::entry) ||
          p[4] == static_cast<uint8_t>(Kind::applied)) &&
         p[5] == 0 && p[6] == 0 && p[7] == 0;
}

// The record starting at off when its framing and tag verify (seq order is the caller's).
std::optional<Record> read_at(std::string_view bytes, size_t off) {
  if (bytes.size() - off < kHeaderSize) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + off);
  const uint32_t len = get32(p + 16);
  if (!framing_ok(p) || len > kMaxPayload || bytes.size() - off - kHeaderSize < len)
    return std::nullopt;
  const std::string_view payload = bytes.substr(off + kHeaderSize, len);
  uint8_t tag[kTagSize];
  compute_tag(p, payload, tag);
  if (sodium_memcmp(tag, p + kTagged, kTagSize) != 0) return std::nullopt;
  return Record{static_cast<Kind>(p[4]), get64(p + 8), payload, off, false};
}

// The first offset >= from where a record verifies, or bytes.size().
size_t find_next(std::string_view bytes, size_t from) {
  const std::string_view magic(kMagic, 4);
  while (from < bytes.size()) {
    const size_t at = bytes.find(magic, from);
    if (at == std::string_view::npos) break;
    if (read_at(bytes, at)) return at;
    from = at + 1;
  }
  return bytes.size();
}

// The damaged record at off read as exactly the bytes up to end, its framing fields (magic,
// kind, reserved, length) rebuilt: recovered when the stored tag then verifies.
std::optional<Record> repaired_at(std::string_view bytes, size_t off, size_t end) {
  if (end - off < kHeaderSize || end - off - kHeaderSize > kMaxPayload) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + off);
  const std::string_view payload = bytes.substr(off + kHeaderSize, end - off - kHeaderSize);
  uint8_t h[kTagged] = {};
  std::memcpy(h, kMagic, 4);
  std::memcpy(h + 8, p + 8, 8);  // the seq cannot be rebuilt: it is taken as it is
  put32(h + 16, static_cast<uint32_t>(payload.size()));
  for (Kind k : {Kind::entry, Kind::applied}) {
    h[4] = static_cast<uint8_t>(k);
    uint8_t tag[kTagSize];
    compute_tag(h, payload, tag);
    if (sodium_memcmp(tag, p + kTagged, kTagSize) == 0)
      return Record{k, get64(p + 8), payload, off, true};
  }
  return std::nullopt;
}

// Whether rest (from a bad record to the end) can be an append cut short: zeros (a file
// extended before its data reached the disk), or the start of a record whose declared length
// runs past the end.
bool cut_short(std::string_view rest) {
  if (all_zero(rest)) return true;
  const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
  if (rest.size() < kHeaderSize)
    return std::memcmp(p, kMagic, std::min<size_t>(rest.size(), 4)) == 0;
  const uint32_t len = get32(p + 16);
  return framing_ok(p) && len <= kMaxPayload && rest.size() - kHeaderSize < len;
}

}  // namespace

Scan scan(std::string_view bytes, uint64_t prev_entry_seq, uint64_t prev_applied,
          bool last_segment) {
  Scan s;
  s.last_entry_seq = prev_entry_seq;
  s.applied_seq = prev_applied;
  s.valid_bytes = bytes.size();
  auto take = [&](const Record& r) {
    if (r.kind == Kind::entry) {
      if (r.seq <= s.last_entry_seq) return false;  // out of order: not a record we wrote here
      s.last_entry_seq = r.seq;
    } else {
      s.applied_seq = std::max(s.applied_seq, r.seq);
    }
    s.records.push_back(r);
    return true;
  };
  size_t off = 0;
  while (off < bytes.size()) {
    if (auto r = read_at(bytes, off)) {
      const size_t end = off + kHeaderSize + r->payload.size();
      if (!take(*r)) s.damaged.push_back({off, end - off});
      off = end;
      continue;
    }
    const size_t next = find_next(bytes, off + 1);
    if (auto r = repaired_at(bytes, off, next)) {
      s.damaged.push_back({off, next - off});
      (void)take(*r);
      off = next;
      continue;
    }
    if (next == bytes.size() && last_segment && cut_short(bytes.substr(off))) {
      s.tail = Tail::torn;
      s.valid_bytes = off;
      break;
    }
    s.damaged.push_back({off, next - off});
    off = next;
  }
  return s;
}

}  // namespace tern::journal::record
