// Journal record codec (issue 12): the on-disk framing of the node-local write journal and the
// scan that reads a segment file's bytes back. Pure functions, no I/O; the writer and start-up
// recovery share them so they cannot disagree.
//
//   [magic "TRNJ"][kind u8][reserved 3 = 0][seq u64][len u32][tag 16][payload]
//
// Integers are little-endian. The tag is keyless BLAKE2b-128 (as the spool's records,
// queue/record.hpp) over the first 20 header bytes and the payload: a flipped bit anywhere,
// length included, is detected. A record never spans two segment files.
//
// The scan's rules (the spool's, queue/spool_recovery.cpp): nothing that was synced and is
// intact is ever dropped.
//  - A bad record is followed by a search for the next record whose framing and tag verify;
//    the scan goes on from there, so a damaged record never hides the records after it.
//  - A damaged record whose framing fields (magic, kind, reserved bytes, length) were hit is
//    rebuilt as exactly the bytes up to the next valid record (or the end): if its tag then
//    verifies, it is recovered whole (repaired), its bytes still reported as damaged.
//  - Only bytes cut short at the very end of the last segment (an incomplete record with no
//    valid record after it, or zeros) are a torn tail: an append that never completed its
//    fdatasync, so nobody was told it was done. Everything else that does not verify is
//    damage: reported (the driver keeps the file as evidence), never cut off.
//  - Entry records carry strictly increasing seqs (also across segments: the caller passes the
//    last seq seen so far); a verified record out of that order is damage, not an entry.
//  - An applied record carries a seq (everything up to it has been applied to the store).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::journal::record {

enum class Kind : uint8_t { entry = 1, applied = 2 };

inline constexpr size_t kHeaderSize = 36;
inline constexpr size_t kTagSize = 16;
// Bounds what a scan believes a length field says; far above any real entry.
inline constexpr uint32_t kMaxPayload = 16u << 20;
inline constexpr char kMagic[4] = {'T', 'R', 'N', 'J'};

// Appends one framed record to out.
void encode(std::string& out, Kind kind, uint64_t seq, std::string_view payload);
std::string encode(Kind kind, uint64_t seq, std::string_view payload);

struct Record {
  Kind kind = Kind::entry;
  uint64_t seq = 0;
  std::string_view payload;  // points into the scanned bytes
  size_t offset = 0;         // where its header starts in the scanned bytes
  bool repaired = false;     // its framing fields were damaged and rebuilt (the tag verified)
};

// Bytes that are not a valid record, kept (never cut off) and reported.
struct Damage {
  size_t offset = 0;
  size_t bytes = 0;
};

enum class Tail {
  clean,  // nothing cut short at the end
  torn,   // bytes from valid_bytes on are an incomplete append (last segment only)
};

struct Scan {
  std::vector<Record> records;  // in file order
  std::vector<Damage> damaged;  // in file order, disjoint from the records' bytes
  size_t valid_bytes = 0;       // the bytes kept: all of them unless the tail is torn
  Tail tail = Tail::clean;
  uint64_t last_entry_seq = 0;  // the highest entry seq seen (or the one passed in)
  uint64_t applied_seq = 0;     // the highest applied mark seen (or the one passed in)
};

// Reads bytes (a whole segment file). prev_entry_seq / prev_applied: what earlier segments
// ended with (0 for the first). last_segment: whether a torn tail is possible here (only the
// newest segment was being appended to when the node stopped).
Scan scan(std::string_view bytes, uint64_t prev_entry_seq = 0, uint64_t prev_applied = 0,
          bool last_segment = true);

}  // namespace tern::journal::record
