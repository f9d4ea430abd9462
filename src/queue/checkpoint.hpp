// Codec of the spool's index checkpoint (<dir>/spool/index.ckpt): the live index as it was at
// one log position, so that recovery reads it and scans only the log written after it. Pure:
// no I/O here (spool_checkpoint.cpp writes and loads it).
//
// File: ["TRNCKPT1"][body length u64][body][BLAKE2b-256 of everything before it, 32 bytes]
// Body (integers little-endian, fixed width):
//   pos_seg u64, pos_off u64        the log position it covers: every record before it
//   next_order u64
//   segments: count u32, each: seq u64 (ascending), prefix_len u32, prefix_hash (32 bytes:
//     BLAKE2b-256 of the segment's first prefix_len bytes, min(4096, its size)), tombs count
//     u32, each: count u32, seq u64s
//   writers (open, uncommitted): count u32, each: id, bytes u64, extents, segs
//   live messages: count u64, each: id, account_id i64, received_ms i64, due_ms i64,
//     flags u8 (1 held, 2 has_state), commit extent, state extent, extents, segs, order u64
//   id: length u8 (1..64, record::valid_id), bytes; extent: seg u64, off u64, len u32;
//   extents: count u32 + extents; segs: count u32 + seq u64s (ascending, unique).
//
// Invariants: decode() accepts exactly what encode produces for valid input and refuses
// anything else (bad magic, length, checksum, a count larger than the bytes left, an invalid
// id, a length over record::kMaxPayload, unsorted sequences, trailing bytes) with an error,
// never a partial result the caller could mistake for a whole one. Fuzzed (checkpoint_fuzz:
// arbitrary bodies, and decode → encode round trips).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "queue/spool_core.hpp"

namespace tern::queue::detail {

// A segment as the checkpoint saw it. Segments are append-only and nothing before the
// checkpoint's position is ever cut, so the first prefix_len bytes of the segment with this
// seq never change: recovery compares them to tell its own log from another spool's (a stale
// index.ckpt left beside new segments), and ignores a checkpoint that does not match.
struct CheckpointSegment {
  uint64_t seq = 0;
  std::vector<std::vector<uint64_t>> tombs;
  uint32_t prefix_len = 0;
  std::array<uint8_t, 32> prefix_hash{};
};
inline constexpr uint32_t kCheckpointPrefix = 4096;
// BLAKE2b-256 of bytes (the checksum and the segment prefixes).
std::array<uint8_t, 32> checkpoint_hash(std::string_view bytes);

struct CheckpointWriter {
  std::string id;
  uint64_t bytes = 0;
  std::vector<Extent> data;
  std::vector<uint64_t> segs;
};

struct CheckpointHead {
  uint64_t pos_seg = 0;
  uint64_t pos_off = 0;
  uint64_t next_order = 1;
  std::vector<CheckpointSegment> segments;
  std::vector<CheckpointWriter> writers;
  uint64_t live_count = 0;
};

// One live message; `segs` ascending (the LiveMessage keeps them in a std::set).
struct CheckpointLive {
  std::string id;
  int64_t account_id = 0;
  int64_t received_ms = 0;
  int64_t due_ms = 0;
  bool held = false;
  bool has_state = false;
  Extent commit;
  Extent state;
  std::vector<Extent> data;
  std::vector<uint64_t> segs;
  uint64_t order = 0;
};

// Streaming encoder: head first (with the number of live messages to follow), then each live
// message, then finish() appends the checksum and returns the file's bytes. The spool adds
// the messages under its lock (the encoding is the copy) and calls finish() after it.
class CheckpointEncoder {
 public:
  explicit CheckpointEncoder(const CheckpointHead& head, size_t reserve = 0);
  void add(std::string_view id, const LiveMessage& m);
  void add(const CheckpointLive& m);
  // As many messages added as the head announced (finish() returns nothing otherwise).
  bool complete() const { return added_ == expected_; }
  std::string finish();

 private:
  std::string buf_;
  uint64_t expected_ = 0, added_ = 0;
};

inline constexpr size_t kCheckpointChecksum = 32;

// Checks magic, length and checksum, then decodes the body; on_live is called once per live
// message in file order (the object is reused: move out of it what you keep) and may refuse
// it (false → an error). Nothing returned or passed on is valid if the result is an error.
core::Result<CheckpointHead> decode_checkpoint(std::string_view file,
                                               const std::function<bool(CheckpointLive&)>& on_live);
// The body alone (no framing, no checksum): what the fuzz target drives directly.
core::Result<CheckpointHead> decode_checkpoint_body(
    std::string_view body, const std::function<bool(CheckpointLive&)>& on_live);
// Frames a body: magic, length, body, checksum (the fuzz target's round trip).
std::string frame_checkpoint(std::string_view body);

}  // namespace tern::queue::detail
