// route=sandbox (SPEC §9): the delivery engine's capture sink, into the captured-mail store,
// with the header fields the console lists (From, Subject, Message-ID) read from the message
// itself (the first 256 KiB; decoded for display, at most 998 characters each).
// Runs on the engine's capture pool: it writes to the store.
#pragma once
#include "net/capture_delivery.hpp"
#include "store/captured.hpp"

namespace tern::app {

class StoreCaptureSink final : public net::CaptureSink {
 public:
  explicit StoreCaptureSink(store::CaptureService& c) : c_(c) {}
  core::Result<void> capture(net::CaptureItem item) override;

 private:
  store::CaptureService& c_;
};

}  // namespace tern::app
