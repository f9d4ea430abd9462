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
// Invariants of a segment the scan accepts:
//  - entry records carry strictly increasing seqs (also across segments: the caller passes
//    the last seq seen so far);
//  - an applied record carries a seq (everything up to it has been applied to the store);
//  - the scan stops at the first record that is not whole and valid. What follows is a torn
//    tail when it is incomplete or all zero bytes (a write that never completed its
//    fdatasync: nobody was told it was done), else corruption (reported, never guessed over).
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
};

enum class Tail {
  clean,    // every byte belongs to a valid record
  torn,     // an incomplete or all-zero remainder after valid_bytes (a crash mid-append)
  corrupt,  // a whole record that fails its checks, or a seq out of order
};

struct Scan {
  std::vector<Record> records;
  size_t valid_bytes = 0;  // the prefix made of valid records
  Tail tail = Tail::clean;
  uint64_t last_entry_seq = 0;  // the highest entry seq seen (or the one passed in)
  uint64_t applied_seq = 0;     // the highest applied mark seen (or the one passed in)
};

// Reads bytes (a whole segment file). prev_entry_seq / prev_applied: what earlier segments
// ended with (0 for the first).
Scan scan(std::string_view bytes, uint64_t prev_entry_seq = 0, uint64_t prev_applied = 0);

}  // namespace tern::journal::record
