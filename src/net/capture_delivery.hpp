// The sandbox route's "connection" (SPEC §9, issue 13): the same contract as start_delivery
// (a ClientDelegate pulls messages and gets one outcome per recipient), but every message goes
// to a CaptureSink (Tern's capture store) instead of a remote server. Nothing leaves the
// machine. Kept apart from the engine so the sans-IO engine rewrite ports it as a unit.
//
// Behaviour: per message, the content is read whole and the sink called on `pool` (never on
// the io thread: both block); then every recipient gets 250 2.0.0 "captured (sandbox)" (host
// "sandbox"), or, when reading or storing failed, 451 4.3.0 with the reason (retried like any
// temporary failure). A null sink fails every message that way.
// Invariants: as start_delivery — one message_done per message handed out, done() exactly once
// and last, every delegate call on io.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/smtp_client.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace tern::net {

struct CaptureItem {
  int64_t account_id = 0;
  std::string queue_id;
  std::string sender;
  std::vector<std::string> recipients;
  std::string raw;  // the message as spooled (signed)
};

class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  // Blocking; called on a pool thread, possibly several at once.
  virtual core::Result<void> capture(CaptureItem item) = 0;
};

void start_capture(boost::asio::io_context& io, boost::asio::thread_pool& pool, CaptureSink* sink,
                   int64_t account_id, std::shared_ptr<ClientDelegate> delegate);

}  // namespace tern::net
