// JSON form of a queued message. The field names are an external contract: the CLI prints
// them and integration tests parse them, and the spool's COMMIT records store them.
#include "queue/envelope.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

namespace tern::queue {

namespace {
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
}  // namespace

const char* to_string(RcptState s) {
  switch (s) {
    case RcptState::pending:
      return "pending";
    case RcptState::delivered:
      return "delivered";
    case RcptState::deferred:
      return "deferred";
    case RcptState::bounced:
      return "bounced";
    case RcptState::expired:
      return "expired";
    case RcptState::rejected:
      return "rejected";
  }
  return "pending";
}

core::EventKind event_of(RcptState s) {
  switch (s) {
    case RcptState::delivered:
      return core::EventKind::delivered;
    case RcptState::bounced:
      return core::EventKind::bounced;
    case RcptState::expired:
      return core::EventKind::expired;
    case RcptState::rejected:
      return core::EventKind::rejected;
    case RcptState::pending:
    case RcptState::deferred:
      break;
  }
  return core::EventKind::deferred;
}

bool is_final(RcptState s) {
  return s == RcptState::delivered || s == RcptState::bounced || s == RcptState::expired ||
         s == RcptState::rejected;
}

bool parse_rcpt_state(std::string_view s, RcptState& out) {
  for (RcptState c : {RcptState::pending, RcptState::delivered, RcptState::deferred,
                      RcptState::bounced, RcptState::expired, RcptState::rejected}) {
    if (s == to_string(c)) {
      out = c;
      return true;
    }
  }
  return false;
}

QueueEntry summarize(const QueuedMessage& m) {
  QueueEntry e;
  e.id = m.id;
  e.account_id = m.account_id;
  e.received_ms = m.received_ms;
  e.held = m.held;
  e.due_ms = INT64_MAX;
  for (const auto& r : m.recipients)
    if (!is_final(r.state)) e.due_ms = std::min(e.due_ms, std::max<int64_t>(0, r.next_attempt_ms));
  return e;
}

int64_t int_field(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi,
                  int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  bool fits = false;
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    fits = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    v = static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    fits = true;
    v = it->get<int64_t>();
  }
  if (!fits || v < lo || v > hi)
    throw nlohmann::json::other_error::create(
        501, std::string(key) + ": not a whole number in range: " + it->dump(), &j);
  return v;
}

// The encoders assign members in place: an initializer list would build every value twice
// (this runs once per accepted message, on the I/O thread).
void to_json(nlohmann::json& j, const Recipient& r) {
  j = nlohmann::json::object();
  j["address"] = r.address;
  j["state"] = to_string(r.state);
  j["attempts"] = r.attempts;
  j["next_attempt_ms"] = r.next_attempt_ms;
  j["last_reply"] = r.last_reply;
  j["first_attempt_ms"] = r.first_attempt_ms;
}

void to_json(nlohmann::json& j, const std::vector<Recipient>& rcpts) {
  j = nlohmann::json::array();
  auto& arr = j.get_ref<nlohmann::json::array_t&>();
  arr.reserve(rcpts.size());
  for (const auto& r : rcpts) to_json(arr.emplace_back(), r);
}

void from_json(const nlohmann::json& j, Recipient& r) {
  r = Recipient{};
  r.address = j.at("address").get<std::string>();
  auto st = j.value("state", std::string("pending"));
  // An unknown state is a corrupt or foreign record; refuse it rather than guess.
  if (!parse_rcpt_state(st, r.state))
    throw nlohmann::json::other_error::create(501, "unknown recipient state: " + st, &j);
  r.attempts = static_cast<int>(int_field(j, "attempts", 0, std::numeric_limits<int>::max(), 0));
  r.next_attempt_ms = int_field(j, "next_attempt_ms", 0, kMax, 0);
  r.last_reply = j.value("last_reply", std::string());
  r.first_attempt_ms = int_field(j, "first_attempt_ms", 0, kMax, 0);
}

void to_json(nlohmann::json& j, const QueuedMessage& m) {
  // options_json is embedded as an object so consumers need not parse a string twice.
  // It is produced by our own code; should it ever be invalid, an empty object is stored
  // rather than failing the commit of an accepted message.
  j = nlohmann::json::object();
  auto& options = j["options"];
  options = nlohmann::json::parse(m.options_json, nullptr, /*allow_exceptions=*/false);
  if (options.is_discarded() || !options.is_object()) options = nlohmann::json::object();
  j["id"] = m.id;
  j["account_id"] = m.account_id;
  j["account"] = m.account_name;
  j["sender"] = m.sender;
  to_json(j["recipients"], m.recipients);
  j["received_ms"] = m.received_ms;
  j["client_ip"] = m.client_ip;
  j["helo"] = m.helo;
  j["message_id"] = m.message_id;
  j["header_from"] = m.header_from;
  j["subject"] = m.subject;
  j["smtputf8"] = m.smtputf8;
  j["eightbit"] = m.eightbit;
  j["held"] = m.held;
  j["prepend"] = m.prepend;
  j["size"] = m.prepend.size() + m.content_size;
}

void from_json(const nlohmann::json& j, QueuedMessage& m) {
  m = QueuedMessage{};
  m.id = j.at("id").get<std::string>();
  m.account_id = int_field(j, "account_id", 0, kMax, 0);
  m.account_name = j.value("account", std::string());
  m.sender = j.value("sender", std::string());
  if (auto it = j.find("recipients"); it != j.end())
    m.recipients = it->get<std::vector<Recipient>>();
  m.received_ms = int_field(j, "received_ms", 0, kMax, 0);
  m.client_ip = j.value("client_ip", std::string());
  m.helo = j.value("helo", std::string());
  m.message_id = j.value("message_id", std::string());
  m.header_from = j.value("header_from", std::string());
  m.subject = j.value("subject", std::string());
  m.smtputf8 = j.value("smtputf8", false);
  m.eightbit = j.value("eightbit", false);
  m.held = j.value("held", false);
  if (auto it = j.find("options"); it != j.end() && it->is_object())
    m.options_json = it->dump();
  else
    m.options_json = "{}";
  m.prepend = j.value("prepend", std::string());
  const auto size = static_cast<uint64_t>(int_field(j, "size", 0, kMax, 0));
  m.content_size = size >= m.prepend.size() ? size - m.prepend.size() : 0;
}

}  // namespace tern::queue
