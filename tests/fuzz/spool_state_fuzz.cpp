// Fuzzes what the spool's compact index decodes from disk (bytes a damaged or foreign spool
// can hold): COMMIT payloads (queue::detail::decode_commit) and STATE payloads
// (queue::detail::apply_state), and the index entry made from the result (summarize).
// Invariants:
//  - never a crash or UB (ASan/UBSan), whatever the bytes;
//  - an accepted COMMIT envelope survives a round trip: encoding it as the spool does and
//    decoding again gives the same JSON;
//  - an entry's due time is never negative: 0 (now), a recipient's next attempt, or INT64_MAX
//    when every recipient is final.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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
    if (nlohmann::json(c2.value().msg).dump(-1, ' ', false,
                                            nlohmann::json::error_handler_t::replace) !=
        nlohmann::json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      std::abort();
  }
  (void)detail::apply_state(in, m);
  const QueueEntry e = summarize(m);
  if (e.due_ms < 0) std::abort();
  return 0;
}
