// Fuzzes what the spool's compact index decodes from disk (bytes a damaged or foreign spool
// can hold): COMMIT payloads (queue::detail::decode_commit) and STATE payloads
// (queue::detail::apply_state), and the index entry made from the result (summarize).
// Invariants:
//  - never a crash or UB (ASan/UBSan), whatever the bytes;
//  - an accepted COMMIT envelope survives a round trip: encoding it as the spool does and
//    decoding again gives the same JSON;
//  - an entry's due time is never negative: 0 (now), a recipient's next attempt, or INT64_MAX
//    when every recipient is final;
//  - the fast scans (queue/envelope_scan) agree with the full decoder whenever they answer:
//    scan_commit succeeds only if decode_commit does, with the same id, account, arrival,
//    held flag, due time, content size, hash and record count; scan_state likewise with
//    apply_state.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "queue/envelope_scan.hpp"
#include "queue/spool_core.hpp"

using namespace tern::queue;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto c = detail::decode_commit(in);
  QueuedMessage m;
  if (c) {
    m = c.value().msg;
    nlohmann::json j = {{"envelope", m},
                        {"content_blake2b", c.value().content_hash},
                        {"data_records", c.value().data_records}};
    const std::string again = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto c2 = detail::decode_commit(again);
    if (!c2) std::abort();
    if (nlohmann::json(c2.value().msg)
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) !=
        nlohmann::json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      std::abort();
  }
  CommitScan cs;
  if (scan_commit(in, cs)) {
    if (!c) std::abort();
    const QueuedMessage& full = c.value().msg;
    const QueueEntry fe = summarize(full);
    if (cs.id != full.id || cs.account_id != full.account_id ||
        cs.received_ms != full.received_ms || cs.held != full.held || cs.due_ms != fe.due_ms ||
        cs.content_size != full.content_size || cs.content_hash != c.value().content_hash ||
        cs.data_records != c.value().data_records)
      std::abort();
  }
  for (bool held : {false, true}) {
    QueuedMessage t;
    t.held = held;
    StateScan ss;
    const bool fast = scan_state(in, held, ss);
    const bool full = detail::apply_state(in, t).ok();
    if (fast) {
      if (!full) std::abort();
      if (ss.held != t.held || ss.due_ms != summarize(t).due_ms) std::abort();
    }
  }
  (void)detail::apply_state(in, m);
  const QueueEntry e = summarize(m);
  if (e.due_ms < 0) std::abort();
  return 0;
}
