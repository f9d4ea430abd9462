// The message log's rules, the same for every backend (message_log.hpp): what a row may hold,
// its stored form, how a status may move, and the search cursor. Pure.
//
// Cursor: base64url (no padding) of "m1:<created_ms>:<message_id>", the last row of a page;
// anything else (bad alphabet, padding, wrong tag, non-decimal time, empty or overlong id) does
// not decode, and search answers it as invalid.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/events.hpp"
#include "core/result.hpp"
#include "store/message_log.hpp"

namespace tern::store::message_log_rules {

constexpr size_t kMaxMessageIdLen = 256;
constexpr size_t kMaxLimit = 1000;

struct Cursor {
  int64_t created_ms = 0;
  std::string message_id;
};

std::string encode_cursor(const MessageRecord& last);
std::optional<Cursor> decode_cursor(std::string_view c);

// Canonical recipient (domain lower-case); anything that is not an address is kept as given,
// so the row still exists and an exact search still finds it.
std::string canonical_recipient(const std::string& r);

// A row as stored: canonical recipient, options "{}" when empty, updated_ms = created_ms when
// 0; invalid when the message id is empty or longer than kMaxMessageIdLen.
core::Result<MessageRecord> stored_form(MessageRecord r);

// May a recipient's status move from `from` to `to`? Never out of a final status, and
// "accepted" never replaces "deferred".
constexpr bool status_may_move(core::MessageStatus from, core::MessageStatus to) {
  if (core::is_final(from)) return false;
  return to != core::MessageStatus::accepted || from == core::MessageStatus::accepted;
}

// The query's cursor, decoded; invalid for a limit outside 1..kMaxLimit or a cursor that is
// not one of ours.
core::Result<std::optional<Cursor>> checked_cursor(const MessageQuery& q);

// Does row r belong to the page after cursor c (strictly older in (created_ms, message_id))?
inline bool after_cursor(const MessageRecord& r, const Cursor& c) {
  return r.created_ms < c.created_ms ||
         (r.created_ms == c.created_ms && r.message_id < c.message_id);
}

}  // namespace tern::store::message_log_rules
