// The event taxonomy (SPEC §4–5): what happened to one recipient of one message (EventKind)
// and where the recipient stands (MessageStatus). Enums everywhere inside Tern; their names
// (to_string / parse_*) only at the edges: the database columns, JSON, CLI output.
//
// Invariants:
// - parse_x(to_string(v)) == v for every value; parse_x of anything else is nullopt (the
//   edges turn that into a corrupt-row or bad-request error).
// - The names are stable: they are stored (delivery_events.event, messages.status) and shown
//   to customers (reports, the API).
// - status_of maps the delivery kinds onto statuses; opened, clicked and webhook are events
//   about a message, not states of it.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tern::core {

enum class EventKind : uint8_t {
  accepted,   // taken into the queue
  delivered,  // a remote server accepted it
  deferred,   // a temporary failure; retried
  bounced,    // a permanent failure
  expired,    // retried too long
  rejected,   // refused locally before any attempt (suppression, policy)
  opened,     // tracking pixel fetched
  clicked,    // tracked link followed
  webhook,    // a report or tracking event POSTed to the customer (or given up)
};

enum class MessageStatus : uint8_t { accepted, deferred, delivered, bounced, expired, rejected };

inline constexpr std::array<EventKind, 9> kEventKinds = {
    EventKind::accepted, EventKind::delivered, EventKind::deferred,
    EventKind::bounced,  EventKind::expired,   EventKind::rejected,
    EventKind::opened,   EventKind::clicked,   EventKind::webhook};
inline constexpr std::array<MessageStatus, 6> kMessageStatuses = {
    MessageStatus::accepted, MessageStatus::deferred, MessageStatus::delivered,
    MessageStatus::bounced,  MessageStatus::expired,  MessageStatus::rejected};

constexpr std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::accepted:
      return "accepted";
    case EventKind::delivered:
      return "delivered";
    case EventKind::deferred:
      return "deferred";
    case EventKind::bounced:
      return "bounced";
    case EventKind::expired:
      return "expired";
    case EventKind::rejected:
      return "rejected";
    case EventKind::opened:
      return "opened";
    case EventKind::clicked:
      return "clicked";
    case EventKind::webhook:
      return "webhook";
  }
  return "webhook";
}

constexpr std::optional<EventKind> parse_event_kind(std::string_view s) {
  for (EventKind k : kEventKinds)
    if (to_string(k) == s) return k;
  return std::nullopt;
}

constexpr std::string_view to_string(MessageStatus s) {
  switch (s) {
    case MessageStatus::accepted:
      return "accepted";
    case MessageStatus::deferred:
      return "deferred";
    case MessageStatus::delivered:
      return "delivered";
    case MessageStatus::bounced:
      return "bounced";
    case MessageStatus::expired:
      return "expired";
    case MessageStatus::rejected:
      return "rejected";
  }
  return "accepted";
}

constexpr std::optional<MessageStatus> parse_message_status(std::string_view s) {
  for (MessageStatus m : kMessageStatuses)
    if (to_string(m) == s) return m;
  return std::nullopt;
}

// A final status never changes again (the first outcome of a recipient is its outcome).
constexpr bool is_final(MessageStatus s) {
  return s == MessageStatus::delivered || s == MessageStatus::bounced ||
         s == MessageStatus::expired || s == MessageStatus::rejected;
}

// The status an event moves a recipient to; nullopt for events that are not states.
constexpr std::optional<MessageStatus> status_of(EventKind k) {
  switch (k) {
    case EventKind::accepted:
      return MessageStatus::accepted;
    case EventKind::delivered:
      return MessageStatus::delivered;
    case EventKind::deferred:
      return MessageStatus::deferred;
    case EventKind::bounced:
      return MessageStatus::bounced;
    case EventKind::expired:
      return MessageStatus::expired;
    case EventKind::rejected:
      return MessageStatus::rejected;
    case EventKind::opened:
    case EventKind::clicked:
    case EventKind::webhook:
      break;
  }
  return std::nullopt;
}

}  // namespace tern::core
