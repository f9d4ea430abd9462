// What the report pipeline journals (issue 12): one entry per queued item (an accepted message,
// a batch of delivery events, a suppression, rows made elsewhere), as the payload of a journal
// record (journal/record.hpp). Pure: encode and decode only.
//
// Invariants:
//  - decode(encode(e)) == e; decode of anything else is a corrupt error, never a throw or a
//    silently defaulted number (the bytes come from disk);
//  - every entry carries a key of 32 random hex digits, drawn when it is made: the
//    idempotency keys of the rows it becomes are derived from it (row_key), so applying an
//    entry twice (a replay after a crash, a retry after the database came back) adds nothing
//    twice, and no two entries ever share keys (seqs restart when a journal is emptied, keys
//    do not).
//  - an accepted message is journaled without its prepended header fields (the DKIM
//    signature): the message log does not need them.
#pragma once
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/events.hpp"
#include "core/outcome.hpp"
#include "core/result.hpp"
#include "queue/envelope.hpp"
#include "store/model.hpp"
#include "store/outbox.hpp"

namespace tern::events {

struct JournalAccepted {
  queue::QueuedMessage m;
  bool recovered = false;  // from the spool at start: only logged when the log lacks it
};
struct JournalEvents {
  std::vector<store::DeliveryEvent> events;
};
struct JournalSuppression {
  store::Suppression s;
};
// Rows written as they are (events and outbox items made elsewhere: the webhook sender's
// attempt events, the tracking endpoint's opened/clicked events and their tracking items).
struct JournalRows {
  std::vector<store::DeliveryEvent> events;
  std::vector<store::OutboxItem> items;
};

struct JournalEntry {
  std::string key;
  std::variant<JournalAccepted, JournalEvents, JournalSuppression, JournalRows> body;
};

// 32 random hex digits (libsodium).
std::string new_entry_key();
// The idempotency key of the i-th row an entry becomes ("<key>.<i>").
std::string row_key(const std::string& entry_key, size_t i);

std::string encode_entry(const JournalEntry& e);
core::Result<JournalEntry> decode_entry(std::string_view payload);

}  // namespace tern::events
