// The delivery engine's knobs (SPEC §4): limits, retry schedule, routes and the cache lifetimes
// of what the engine learns from outside (settings, resolved targets, dead destinations).
// Plain values; the app's config parser fills them ([delivery] section).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "delivery/route.hpp"
#include "delivery/scheduler.hpp"
#include "queue/retry.hpp"

namespace tern::delivery {

struct EngineConfig {
  Limits limits;  // connections overall / per destination
  size_t max_messages_per_connection = 100;
  queue::RetryPolicy retry;
  RelayConfig smarthost;  // host "" = direct MX delivery for the platform route
  uint16_t mx_port = 25;  // port of every MX host (tests point it at loopback peers)
  std::string hostname;   // Reporting-MTA of bounce notices, their Message-ID domain
  // At most this many messages have their envelope in memory (loaded or loading); the others
  // wait in the compact index until they are due and a place is free (Postfix's qmgr keeps
  // 20,000 "active" messages the same way).
  size_t max_active_messages = 20000;
  size_t load_batch = 500;             // envelopes asked for in one LoadEnvelopes action
  int64_t settings_ttl_ms = 30'000;    // account settings are refreshed (in the background) after
  int64_t settings_retry_ms = 60'000;  // a message whose settings could not be read waits this
  int64_t target_ttl_ms = 60'000;      // resolved MX / relay addresses are reused this long
  int64_t dead_backoff_ms = 5'000;     // a destination whose every host refused rests this long
  int64_t events_delay_ms = 100;       // delivery events are recorded in batches this often
  size_t events_batch = 2000;          // ... or as soon as this many are waiting
};

}  // namespace tern::delivery
