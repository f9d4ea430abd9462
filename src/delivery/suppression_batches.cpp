// Suppression look-ups as batches (see suppression_batches.hpp for the invariants).
#include "delivery/suppression_batches.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace tern::delivery {

std::optional<SuppressionBatches::Batch> SuppressionBatches::add(
    std::vector<SuppressionQuery> queries) {
  waiting_.insert(waiting_.end(), std::make_move_iterator(queries.begin()),
                  std::make_move_iterator(queries.end()));
  if (busy_) return std::nullopt;
  return take();
}

std::optional<SuppressionBatches::Batch> SuppressionBatches::done() {
  busy_ = false;
  return take();
}

std::optional<SuppressionBatches::Batch> SuppressionBatches::take() {
  if (waiting_.empty()) return std::nullopt;
  // Cut after kMax, never inside one message's queries.
  size_t n = std::min(waiting_.size(), kMax);
  while (n < waiting_.size() && waiting_[n].queue_id == waiting_[n - 1].queue_id) ++n;
  Batch out;
  if (n == waiting_.size()) {
    out = std::exchange(waiting_, {});
  } else {
    const auto cut = waiting_.begin() + static_cast<std::ptrdiff_t>(n);
    out.assign(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(cut));
    waiting_.erase(waiting_.begin(), cut);
  }
  busy_ = true;
  return out;
}

}  // namespace tern::delivery
