// Store-write retries of the report batcher (see report_batcher.hpp).
#include "events/report_batcher.hpp"

namespace tern::events {

std::optional<int64_t> retry_delay_ms(int attempt, bool temporary) {
  if (!temporary || attempt >= kWriteAttempts) return std::nullopt;
  if (attempt < 1) attempt = 1;
  return int64_t{100} * attempt;
}

}  // namespace tern::events
