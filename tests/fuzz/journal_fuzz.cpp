// Fuzzes what the node-local journal (issue 12) reads back from disk at start: a segment
// file's bytes through journal::record::scan (src/journal/record.cpp), and each entry's
// payload through events::decode_entry (src/events/journal_entry.cpp). A crash, a bad disk or
// another program may have left any bytes there.
// Input: a segment's bytes. Invariants:
//  - never a crash or UB (ASan/UBSan); a bad payload is a corrupt error, never a throw;
//  - the scan's valid prefix re-encodes byte for byte from the records it returned, entry seqs
//    grow, valid_bytes never passes the input, and a clean scan covers all of it;
//  - a decoded entry survives a round trip: decode(encode(e)) encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "events/journal_entry.hpp"
#include "journal/record.hpp"

namespace record = tern::journal::record;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto s = record::scan(in);
  if (s.valid_bytes > size) std::abort();
  if (s.tail == record::Tail::clean && s.valid_bytes != size) std::abort();
  std::string again;
  uint64_t last = 0;
  for (const auto& r : s.records) {
    record::encode(again, r.kind, r.seq, r.payload);
    if (r.kind == record::Kind::entry) {
      if (r.seq <= last) std::abort();
      last = r.seq;
    }
  }
  if (again != in.substr(0, s.valid_bytes)) std::abort();
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
