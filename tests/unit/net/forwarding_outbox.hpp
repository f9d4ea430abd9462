// A test outbox that hands every call on to another (a real backend): a test derives from it
// and overrides only the calls it scripts (a mark that waits or fails, an enqueue that reports
// an outage). mark_and_claim is not handed on: the base class's default runs this object's
// own mark_sent / mark_failed / due in turn, so what a test scripts there applies to the
// webhook sender's rounds too.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "store/outbox.hpp"

namespace tern::test {

class ForwardingOutbox : public store::Outbox {
 public:
  explicit ForwardingOutbox(store::Outbox& in) : in_(in) {}

  core::Result<void> enqueue(const std::vector<store::OutboxItem>& items, int64_t now) override {
    return in_.enqueue(items, now);
  }
  using store::Outbox::due;
  core::Result<std::vector<std::vector<store::OutboxItem>>> due(
      int64_t n, size_t b, size_t p, const std::vector<std::string>& skip) override {
    return in_.due(n, b, p, skip);
  }
  core::Result<size_t> mark_sent(const std::vector<store::OutboxClaim>& c, int64_t n,
                                 int code) override {
    return in_.mark_sent(c, n, code);
  }
  core::Result<size_t> mark_failed(const std::vector<store::OutboxClaim>& c, int64_t n,
                                   const std::string& e, bool g, int code) override {
    return in_.mark_failed(c, n, e, g, code);
  }
  core::Result<uint64_t> backlog() override { return in_.backlog(); }
  core::Result<int64_t> next_due_ms() override { return in_.next_due_ms(); }
  core::Result<std::vector<store::OutboxItem>> for_message(const std::string& m) override {
    return in_.for_message(m);
  }
  core::Result<store::OutboxPage> list(int64_t a, size_t l, const std::string& c) override {
    return in_.list(a, l, c);
  }
  core::Result<std::optional<store::OutboxItem>> find(int64_t a, int64_t id) override {
    return in_.find(a, id);
  }
  core::Result<bool> retry_now(int64_t a, int64_t id, int64_t n) override {
    return in_.retry_now(a, id, n);
  }

 protected:
  store::Outbox& in_;
};

}  // namespace tern::test
