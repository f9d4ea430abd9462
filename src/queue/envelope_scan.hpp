// Fast reading of the few envelope fields the spool's index needs, straight from COMMIT and
// STATE payloads (the compact JSON the spool writes), without building the envelope: recovery
// of a million messages must not decode a million envelopes.
//
// Contract: a scan either succeeds with exactly what the full decoder (from_json via
// nlohmann, queue::detail::decode_commit / apply_state) would give for those fields, or says
// "not sure" (false) and the caller decodes fully. It is deliberately stricter than the full
// decoder: anything outside the shape Tern writes — a byte >= 0x80 or a \u escape in a string,
// a number that is not a plain integer (or is negative where the decoder wants a whole number
// >= 0), a known key with another type, nesting deeper than
// needed — is "not sure", never a guess. Unknown keys are skipped as the full decoder ignores
// them; a repeated key counts last, as there. The fuzz target spool_state_fuzz checks the
// contract against the full decoder.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::queue {

struct CommitScan {
  std::string id;
  int64_t account_id = 0;
  int64_t received_ms = 0;
  bool held = false;
  int64_t due_ms = 0;         // summarize(): INT64_MAX when every recipient is final
  uint64_t content_size = 0;  // size - prepend length (as from_json computes it)
  std::string content_hash;
  uint64_t data_records = 0;
};
bool scan_commit(std::string_view payload, CommitScan& out);

struct StateScan {
  bool held = false;  // as given, or the caller's value when the record has none
  int64_t due_ms = 0;
};
// held: the message's held flag before this record (kept when the record has no "held").
bool scan_state(std::string_view payload, bool held, StateScan& out);

}  // namespace tern::queue
