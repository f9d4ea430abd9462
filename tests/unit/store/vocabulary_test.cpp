// The store's own vocabularies (outbox kinds and states): enums inside, names only where they
// are stored and shown; every value round-trips, nothing else parses.
#include <gtest/gtest.h>

#include "store/outbox.hpp"

namespace tern::store {
namespace {

TEST(StoreVocabulary, OutboxKindsAndStatesRoundTrip) {
  for (OutboxKind k : {OutboxKind::report, OutboxKind::tracking})
    EXPECT_EQ(parse_outbox_kind(to_string(k)), k);
  for (OutboxState s : {OutboxState::pending, OutboxState::sent, OutboxState::failed})
    EXPECT_EQ(parse_outbox_state(to_string(s)), s);
  EXPECT_EQ(to_string(OutboxKind::tracking), "tracking");
  EXPECT_EQ(to_string(OutboxState::failed), "failed");
  for (const char* bad : {"", "Report", "carrier-pigeon", "sent "}) {
    EXPECT_FALSE(parse_outbox_kind(bad)) << bad;
    EXPECT_FALSE(parse_outbox_state(bad)) << bad;
  }
}

}  // namespace
}  // namespace tern::store
