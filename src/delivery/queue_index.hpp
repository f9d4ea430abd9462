// The engine's compact index of every live message (Postfix qmgr's split between the queue on
// disk and the few "active" messages in memory): per message its account, arrival, the time
// its earliest recipient is due and where it is — waiting (envelope on disk only), held,
// loading (envelope asked for) or active (envelope in memory, in the scheduler or in flight).
// Pure; about 180 bytes per message, whatever the envelope's size.
//
// Invariants:
//  - A message is in exactly one place; only waiting messages are in the due order, so
//    take_due never hands out a held, loading or active message.
//  - take_due hands out waiting messages by due time, then by the order they started waiting.
//  - active_count() = loading + active (what the engine bounds by max_active_messages).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "queue/envelope.hpp"

namespace tern::delivery {

class QueueIndex {
 public:
  enum class Where : uint8_t { waiting, held, loading, active };
  struct Entry {
    int64_t account_id = 0;
    int64_t received_ms = 0;
    int64_t due_ms = 0;
    uint64_t seq = 0;
    Where where = Where::waiting;
    bool expedite = false;  // `queue retry`: every recipient is due when it is loaded
  };

  // A new message, waiting (or held); false when the id is known already.
  bool add(const queue::QueueEntry& e);
  Entry* find(const std::string& id);
  const Entry* find(const std::string& id) const;
  void erase(const std::string& id);
  // Moves a message to `where`; due_ms is its due time when it waits.
  void move(const std::string& id, Where where, int64_t due_ms = 0);
  // Up to n waiting messages due at or before now_ms, which become loading.
  std::vector<std::string> take_due(int64_t now_ms, size_t n);
  std::optional<int64_t> next_due_ms() const;

  size_t size() const { return map_.size(); }
  size_t active_count() const { return active_; }
  std::vector<std::string> ids() const;  // every message (operator commands on "all")
  // Gives memory back once the queue is empty (the bucket array stays otherwise).
  void shrink_if_empty();

 private:
  struct Due {
    int64_t due_ms;
    uint64_t seq;
    const std::string* id;
    bool operator<(const Due& o) const {
      return due_ms != o.due_ms ? due_ms < o.due_ms : seq < o.seq;
    }
  };
  void leave(const std::string& id, Entry& e);
  void enter(const std::string& id, Entry& e, Where where, int64_t due_ms);

  std::unordered_map<std::string, Entry> map_;
  std::set<Due> due_;
  uint64_t next_seq_ = 1;
  size_t active_ = 0;
};

}  // namespace tern::delivery
