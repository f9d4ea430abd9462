// Spool record codec: the on-disk framing of one record and its integrity tag.
//
//   [magic "TRNR"][type u8][reserved 3 = 0][id_len u16][reserved 2 = 0][len u32][tag 16]
//   [id][payload]
//
// Integers are little-endian. The tag is keyless BLAKE2b-128 (libsodium crypto_generichash)
// over the first 16 header bytes, the id and the payload, so any flipped bit anywhere in a
// record - length fields included - is detected. A record never spans two segment files.
// Pure functions: no I/O here; recovery and the writer share them so they cannot disagree.
#pragma once
#include <sodium.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern::queue::record {

enum class Type : uint8_t { data = 1, commit = 2, state = 3, done = 4, abort = 5 };

inline constexpr size_t kHeaderSize = 32;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kMaxIdLen = 64;
// Bounds what recovery will believe a length field says; far above any real envelope.
inline constexpr uint32_t kMaxPayload = 16u << 20;
// Content is written in DATA records of at most this many bytes.
inline constexpr size_t kDataPiece = 64 * 1024;
inline constexpr char kMagic[4] = {'T', 'R', 'N', 'R'};

using HeaderBytes = std::array<uint8_t, kHeaderSize>;

struct Header {
  Type type = Type::data;
  uint16_t id_len = 0;
  uint32_t len = 0;
  size_t total() const { return kHeaderSize + id_len + len; }
};

HeaderBytes encode_header(Type t, std::string_view id, std::string_view payload);
// Checks magic, type, reserved bytes and bounds; the tag is checked by tag_matches.
std::optional<Header> parse_header(const uint8_t* p);
bool tag_matches(const uint8_t* header, std::string_view id, std::string_view payload);
// Queue ids name files (quarantine/<id>.eml), so only a safe alphabet is accepted.
bool valid_id(std::string_view id);

std::string to_hex(const uint8_t* p, size_t n);

// Incremental BLAKE2b-128 of message content; stored in COMMIT so a missing or reordered
// DATA record is detected even if every remaining record is individually intact.
class ContentHash {
 public:
  ContentHash();
  void update(std::string_view bytes);
  std::string hex_final();

 private:
  crypto_generichash_state st_;
};

}  // namespace tern::queue::record
