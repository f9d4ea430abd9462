// Suppression look-ups as batches, one at a time (sans-IO; the driver net/delivery_engine runs
// them on its pool). The engine asks once per message it takes on (CheckSuppression); the
// queries that come while a look-up runs go out together in the next, like a group commit: on
// PostgreSQL one statement and one read transaction per account in a batch instead of three
// round trips per message.
//
// Invariants:
//  - At most one batch is out (between a batch handed out and done()).
//  - A batch holds whole messages: all queries of one queue id, which arrive together, are in
//    the same batch (the engine moves a message on once its answers come).
//  - A batch holds about kMax queries at most: it is cut after kMax, at the next message
//    boundary; the rest wait, in order.
//  - Nothing is dropped: every query added is in exactly one batch handed out.
#pragma once
#include <cstddef>
#include <optional>
#include <vector>

#include "delivery/engine_io.hpp"

namespace tern::delivery {

class SuppressionBatches {
 public:
  static constexpr size_t kMax = 2'000;
  using Batch = std::vector<SuppressionQuery>;

  // A CheckSuppression's queries: the batch to look up now, when none is out.
  std::optional<Batch> add(std::vector<SuppressionQuery> queries);
  // The batch out was answered: the next one to look up, if queries wait.
  std::optional<Batch> done();

  bool busy() const { return busy_; }
  size_t waiting() const { return waiting_.size(); }

 private:
  std::optional<Batch> take();
  std::vector<SuppressionQuery> waiting_;
  bool busy_ = false;
};

}  // namespace tern::delivery
