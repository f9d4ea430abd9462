// Fuzzes what the node-local journal (issue 12) reads back from disk at start: a segment
// file's bytes through journal::record::scan (src/journal/record.cpp), and each entry's
// payload through events::decode_entry (src/events/journal_entry.cpp). A crash, a bad disk or
// another program may have left any bytes there.
// Input: a segment's bytes (scanned as the last segment and as an older one). Invariants:
//  - never a crash or UB (ASan/UBSan); a bad payload is a corrupt error, never a throw;
//  - records and damaged ranges are in file order, disjoint, and with the torn tail they cover
//    every byte of the input exactly once (nothing is silently skipped); a torn tail only in
//    the last segment; entry seqs grow;
//  - a record re-encodes byte for byte at its offset; a repaired one (framing rebuilt) keeps
//    its size and tag;
//  - a decoded entry survives a round trip: decode(encode(e)) encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "events/journal_entry.hpp"
#include "journal/record.hpp"

namespace record = tern::journal::record;

namespace {

void check_scan(std::string_view in, const record::Scan& s, bool last) {
  if (s.valid_bytes > in.size()) std::abort();
  if (s.tail == record::Tail::torn ? (!last || s.valid_bytes == in.size())
                                   : s.valid_bytes != in.size())
    std::abort();
  // Walk records and damage in offset order: together they must tile [0, valid_bytes).
  size_t at = 0, ri = 0, di = 0;
  uint64_t last_seq = 0;
  while (ri < s.records.size() || di < s.damaged.size()) {
    const bool rec = di == s.damaged.size() ||
                     (ri < s.records.size() && s.records[ri].offset < s.damaged[di].offset);
    if (rec) {
      const auto& r = s.records[ri++];
      const std::string again = record::encode(r.kind, r.seq, r.payload);
      if (r.repaired) {
        // A repaired record lies inside a damaged range that starts where it does.
        if (di == 0 || s.damaged[di - 1].offset != r.offset ||
            s.damaged[di - 1].bytes != again.size() ||
            in.substr(r.offset + 20, 16) != std::string_view(again).substr(20, 16))
          std::abort();
      } else {
        if (r.offset != at || in.substr(at, again.size()) != again) std::abort();
        at += again.size();
      }
      if (r.kind == record::Kind::entry) {
        if (r.seq <= last_seq) std::abort();
        last_seq = r.seq;
      }
    } else {
      const auto& d = s.damaged[di++];
      if (d.offset != at || d.bytes == 0) std::abort();
      at += d.bytes;
    }
  }
  if (at != s.valid_bytes) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto s = record::scan(in);
  check_scan(in, s, true);
  check_scan(in, record::scan(in, 0, 0, false), false);
  // Entry payloads: scanned ones, and the raw input itself (a tag is hard to hit by chance).
  auto check = [](std::string_view payload) {
    auto e = tern::events::decode_entry(payload);
    if (!e) {
      if (!e.error().is(tern::core::ErrorCode::corrupt)) std::abort();
      return;
    }
    const std::string once = tern::events::encode_entry(*e);
    auto back = tern::events::decode_entry(once);
    if (!back || tern::events::encode_entry(*back) != once) std::abort();
  };
  for (const auto& r : s.records)
    if (r.kind == record::Kind::entry) check(r.payload);
  check(in);
  return 0;
}
