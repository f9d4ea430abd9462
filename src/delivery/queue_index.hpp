// The engine's compact index of every live message (Postfix qmgr's split between the queue on
// disk and the few "active" messages in memory): per message its account, arrival, the time
// its earliest recipient is due and where it is — waiting (envelope on disk only), held,
// loading (envelope asked for) or active (envelope in memory, in the scheduler or in flight).
// Pure; about 80 bytes per message, whatever the envelope's size.
//
// Layout (no node per message, so a million entries are a few flat arrays, loaded in one pass
// by add_all): entries in one vector of slots (erased slots are reused), the ids side by side
// in one character arena, an open-addressing hash table id → slot, and the due order as a
// binary min-heap of (due, seq, slot) with lazy removal: a heap item is current only while its
// slot still waits with the same seq; stale items are dropped when they reach the top, and the
// heap is rebuilt when stale items outnumber the waiting messages.
//
// Invariants:
//  - A message is in exactly one place; only waiting messages are in the due order, so
//    take_due never hands out a held, loading or active message.
//  - take_due hands out waiting messages by due time, then by the order they started waiting
//    (seq: given each time a message starts waiting, never reused).
//  - active_count() = loading + active (what the engine bounds by max_active_messages).
//  - An Entry* from find() stays valid until the next add/add_all/shrink_if_empty.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
  // What the spool recovered, in one pass (the arrays sized once, the due order built once):
  // like add() for each entry in order, skipping those with nothing left to deliver (due_ms
  // INT64_MAX) and ids known already. Returns how many were added.
  size_t add_all(const std::vector<queue::QueueEntry>& entries);
  Entry* find(std::string_view id);
  const Entry* find(std::string_view id) const;
  void erase(std::string_view id);
  // Moves a message to `where`; due_ms is its due time when it waits.
  void move(std::string_view id, Where where, int64_t due_ms = 0);
  // Up to n waiting messages due at or before now_ms, which become loading.
  std::vector<std::string> take_due(int64_t now_ms, size_t n);
  std::optional<int64_t> next_due_ms() const;

  size_t size() const { return live_; }
  size_t active_count() const { return active_; }
  size_t waiting_count() const { return waiting_; }
  std::vector<std::string> ids() const;  // every message (operator commands on "all")
  // Gives memory back once the queue is empty (the arrays stay otherwise).
  void shrink_if_empty();

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;  // free slot / empty table cell
  static constexpr uint32_t kTomb = 0xFFFFFFFEu;  // erased table cell
  struct Slot {
    Entry e;
    uint32_t id_off = 0;  // in ids_
    uint16_t id_len = 0;
    bool used = false;  // false: on the free list
  };
  struct Due {
    int64_t due_ms;
    uint64_t seq;
    uint32_t slot;
  };
  // std::*_heap keeps the largest first: "greater" puts the earliest due (then seq) on top.
  static bool later(const Due& a, const Due& b) {
    return a.due_ms != b.due_ms ? a.due_ms > b.due_ms : a.seq > b.seq;
  }

  std::string_view id_of(const Slot& s) const { return {ids_.data() + s.id_off, s.id_len}; }
  uint32_t lookup(std::string_view id) const;  // slot or kNone
  // The table cell for id: its cell, else the first free one on its probe path.
  size_t probe(std::string_view id, size_t hash, bool& found) const;
  void grow_table(size_t want_live);
  uint32_t insert(const queue::QueueEntry& q);  // id not known; returns the slot
  void leave(Slot& s);
  void enter(uint32_t slot, Where where, int64_t due_ms, bool push);
  bool current(const Due& d) const;
  void prune() const;  // drops stale items from the heap's top
  void compact_ids();

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::string ids_;
  size_t dead_id_bytes_ = 0;
  std::vector<uint32_t> table_;  // slot, kNone or kTomb; size a power of two (or 0)
  size_t tombs_ = 0;
  mutable std::vector<Due> heap_;
  uint64_t next_seq_ = 1;
  size_t live_ = 0, active_ = 0, waiting_ = 0;
};

}  // namespace tern::delivery
