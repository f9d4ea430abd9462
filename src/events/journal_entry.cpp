#include "events/journal_entry.hpp"

#include <sodium.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "queue/record.hpp"

namespace tern::events {

namespace {

using nlohmann::json;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return {};
  return it->get<std::string>();  // throws on a non-string
}

json event_json(const store::DeliveryEvent& e) {
  return json{{"t", e.time_ms},
              {"q", e.queue_id},
              {"a", e.account_id},
              {"r", e.recipient},
              {"e", core::to_string(e.event)},
              {"n", e.attempt},
              {"c", e.code},
              {"x", e.enhanced},
              {"y", e.reply},
              {"m", e.mx_host},
              {"s", e.tls},
              {"p", core::to_string(e.phase)},
              {"ip", e.sending_ip},
              {"f", e.first_attempt_ms}};
}

store::DeliveryEvent event_of(const json& j) {
  if (!j.is_object()) throw std::runtime_error("event: not an object");
  store::DeliveryEvent e;
  e.time_ms = queue::int_field(j, "t", 0, kMax, 0);
  e.queue_id = str(j, "q");
  e.account_id = queue::int_field(j, "a", 0, kMax, 0);
  e.recipient = str(j, "r");
  auto kind = core::parse_event_kind(str(j, "e"));
  if (!kind) throw std::runtime_error("event: unknown kind");
  e.event = *kind;
  e.attempt = static_cast<int>(queue::int_field(j, "n", 0, kIntMax, 0));
  e.code = static_cast<int>(queue::int_field(j, "c", 0, 999, 0));
  e.enhanced = str(j, "x");
  e.reply = str(j, "y");
  e.mx_host = str(j, "m");
  e.tls = j.value("s", false);
  auto phase = core::parse_phase(str(j, "p"));
  if (!phase) throw std::runtime_error("event: unknown phase");
  e.phase = *phase;
  e.sending_ip = str(j, "ip");
  e.first_attempt_ms = queue::int_field(j, "f", 0, kMax, 0);
  return e;
}

json item_json(const store::OutboxItem& i) {
  return json{{"a", i.account_id}, {"k", store::to_string(i.kind)},
              {"u", i.url},        {"ct", i.content_type},
              {"m", i.message_id}, {"q", i.queue_id},
              {"r", i.recipient},  {"i", i.item},
              {"c", i.created_ms}, {"n", i.next_attempt_ms}};
}

store::OutboxItem item_of(const json& j) {
  if (!j.is_object()) throw std::runtime_error("item: not an object");
  store::OutboxItem i;
  i.account_id = queue::int_field(j, "a", 0, kMax, 0);
  auto kind = store::parse_outbox_kind(str(j, "k"));
  if (!kind) throw std::runtime_error("item: unknown kind");
  i.kind = *kind;
  i.url = str(j, "u");
  i.content_type = str(j, "ct");
  i.message_id = str(j, "m");
  i.queue_id = str(j, "q");
  i.recipient = str(j, "r");
  i.item = str(j, "i");
  i.created_ms = queue::int_field(j, "c", 0, kMax, 0);
  i.next_attempt_ms = queue::int_field(j, "n", 0, kMax, 0);
  return i;
}

bool valid_key(const std::string& k) {
  if (k.size() != 32) return false;
  for (char c : k)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string new_entry_key() {
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  return queue::record::to_hex(b, sizeof b);
}

std::string row_key(const std::string& entry_key, size_t i) {
  return entry_key + "." + std::to_string(i);
}

std::string encode_entry(const JournalEntry& e) {
  json j;
  j["k"] = e.key;
  if (const auto* a = std::get_if<JournalAccepted>(&e.body)) {
    queue::QueuedMessage m = a->m;
    m.prepend.clear();
    j["t"] = "accepted";
    j["m"] = m;
    j["rec"] = a->recovered;
  } else if (const auto* ev = std::get_if<JournalEvents>(&e.body)) {
    j["t"] = "events";
    json arr = json::array();
    for (const auto& x : ev->events) arr.push_back(event_json(x));
    j["e"] = std::move(arr);
  } else if (const auto* rows = std::get_if<JournalRows>(&e.body)) {
    j["t"] = "rows";
    json evs = json::array();
    for (const auto& x : rows->events) evs.push_back(event_json(x));
    json items = json::array();
    for (const auto& x : rows->items) items.push_back(item_json(x));
    j["e"] = std::move(evs);
    j["o"] = std::move(items);
  } else {
    const auto& s = std::get<JournalSuppression>(e.body).s;
    j["t"] = "suppression";
    j["s"] = json{{"a", s.account_id},
                  {"addr", s.address},
                  {"why", s.reason},
                  {"q", s.queue_id},
                  {"t", s.created_ms}};
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

core::Result<JournalEntry> decode_entry(std::string_view payload) {
  auto j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return core::Error::corrupt("journal entry: not a JSON object");
  try {
    // Each branch builds its whole entry (a default-made variant assigned later trips g++ 12's
    // -Wmaybe-uninitialized).
    std::string key = str(j, "k");
    if (!valid_key(key)) return core::Error::corrupt("journal entry: bad key");
    const std::string type = str(j, "t");
    if (type == "accepted") {
      JournalAccepted a;
      a.m = j.at("m").get<queue::QueuedMessage>();
      a.recovered = j.value("rec", false);
      return JournalEntry{std::move(key), std::move(a)};
    } else if (type == "events") {
      JournalEvents ev;
      const auto& arr = j.at("e");
      if (!arr.is_array()) return core::Error::corrupt("journal entry: events not a list");
      for (const auto& x : arr) ev.events.push_back(event_of(x));
      return JournalEntry{std::move(key), std::move(ev)};
    } else if (type == "suppression") {
      const auto& s = j.at("s");
      if (!s.is_object()) return core::Error::corrupt("journal entry: bad suppression");
      JournalSuppression sup;
      sup.s.account_id = queue::int_field(s, "a", 0, kMax, 0);
      sup.s.address = str(s, "addr");
      sup.s.reason = str(s, "why");
      sup.s.queue_id = str(s, "q");
      sup.s.created_ms = queue::int_field(s, "t", 0, kMax, 0);
      return JournalEntry{std::move(key), std::move(sup)};
    } else if (type == "rows") {
      JournalRows rows;
      const auto& evs = j.at("e");
      const auto& items = j.at("o");
      if (!evs.is_array() || !items.is_array())
        return core::Error::corrupt("journal entry: rows not lists");
      for (const auto& x : evs) rows.events.push_back(event_of(x));
      for (const auto& x : items) rows.items.push_back(item_of(x));
      return JournalEntry{std::move(key), std::move(rows)};
    } else {
      return core::Error::corrupt("journal entry: unknown type");
    }
  } catch (const std::exception& ex) {
    return core::Error::corrupt(std::string("journal entry: ") + ex.what());
  }
}

}  // namespace tern::events
