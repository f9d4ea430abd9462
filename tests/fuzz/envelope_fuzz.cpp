// Fuzzes the spool's decoders of single items: the envelope JSON of a COMMIT record and the
// recipient list of a STATE record (queue::from_json, src/queue/envelope.cpp), and the fixed
// record header (queue::record::parse_header, src/queue/record.cpp). Recovery also reads the
// envelope of a COMMIT whose check failed (for the quarantine report), so these bytes are not
// always ours.
// Input: [selector][bytes]. Invariants:
//  - never a crash or UB (ASan/UBSan): a bad envelope is a caught exception, never a wrong
//    number from an out-of-range conversion;
//  - a decoded envelope survives a round trip: from_json(to_json(m)) encodes to the same JSON;
//  - recipient states decode to a known state;
//  - parse_header accepts only the magic, a known type, zero reserved bytes, an id length of
//    1..64 and a payload length of at most 16 MiB.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"
#include "queue/record.hpp"

namespace record = tern::queue::record;
using tern::queue::QueuedMessage;
using tern::queue::Recipient;

namespace {

nlohmann::json encode(const QueuedMessage& m) {
  nlohmann::json j = m;
  return j;
}

void check_recipients(const std::vector<Recipient>& rs) {
  for (const auto& r : rs) {
    tern::queue::RcptState s;
    if (!tern::queue::parse_rcpt_state(tern::queue::to_string(r.state), s) || s != r.state)
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {  // a COMMIT's envelope
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded()) return 0;
      QueuedMessage m;
      try {
        m = j.get<QueuedMessage>();
      } catch (const nlohmann::json::exception&) {
        return 0;
      }
      check_recipients(m.recipients);
      const nlohmann::json once = encode(m);
      const QueuedMessage back = once.get<QueuedMessage>();  // must not throw
      if (encode(back) != once) std::abort();
      break;
    }
    case 1: {  // a STATE record's recipients
      auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return 0;
      try {
        check_recipients(j.at("recipients").get<std::vector<Recipient>>());
        (void)j.value("held", false);
      } catch (const nlohmann::json::exception&) {
      }
      break;
    }
    default: {  // a record header
      if (in.size() < record::kHeaderSize) return 0;
      const auto* p = reinterpret_cast<const uint8_t*>(in.data());
      auto h = record::parse_header(p);
      if (!h) return 0;
      if (std::memcmp(p, record::kMagic, 4) != 0) std::abort();
      if (h->id_len < 1 || h->id_len > record::kMaxIdLen || h->len > record::kMaxPayload)
        std::abort();
      if (p[5] || p[6] || p[7] || p[10] || p[11]) std::abort();
      if (h->total() != record::kHeaderSize + h->id_len + h->len) std::abort();
      // The tag covers the header: a header whose bytes are not those encode_header writes for
      // its id and payload never matches.
      const std::string_view rest = in.substr(record::kHeaderSize);
      if (rest.size() >= size_t{h->id_len} + h->len) {
        const std::string_view id = rest.substr(0, h->id_len);
        const std::string_view payload = rest.substr(h->id_len, h->len);
        const auto good = record::encode_header(h->type, id, payload);
        if (record::tag_matches(p, id, payload) != (std::memcmp(good.data(), p, 32) == 0))
          std::abort();
      }
      break;
    }
  }
  return 0;
}
