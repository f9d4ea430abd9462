// Enums parsed only at the edges: every value round-trips through its name, names are the
// stored and documented ones, and nothing else parses.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/events.hpp"
#include "core/outcome.hpp"

namespace tern::core {
namespace {

TEST(Vocabulary, EventKindsRoundTrip) {
  std::set<std::string> names;
  for (EventKind k : kEventKinds) {
    EXPECT_EQ(parse_event_kind(to_string(k)), k);
    names.insert(std::string(to_string(k)));
  }
  EXPECT_EQ(names, (std::set<std::string>{"accepted", "delivered", "deferred", "bounced", "expired",
                                          "rejected", "opened", "clicked", "webhook"}));
  for (const char* bad : {"", "Delivered", "delivered ", "pending", "bounced\n"})
    EXPECT_FALSE(parse_event_kind(bad)) << bad;
}

TEST(Vocabulary, MessageStatusesRoundTripAndFollowEvents) {
  for (MessageStatus s : kMessageStatuses) EXPECT_EQ(parse_message_status(to_string(s)), s);
  EXPECT_FALSE(parse_message_status("opened"));
  EXPECT_FALSE(parse_message_status(""));
  // Every status is the status of the event of the same name; the others are no state.
  for (EventKind k : kEventKinds) {
    auto s = status_of(k);
    if (k == EventKind::opened || k == EventKind::clicked || k == EventKind::webhook) {
      EXPECT_FALSE(s) << to_string(k);
    } else {
      ASSERT_TRUE(s) << to_string(k);
      EXPECT_EQ(to_string(*s), to_string(k));
    }
  }
  EXPECT_FALSE(is_final(MessageStatus::accepted));
  EXPECT_FALSE(is_final(MessageStatus::deferred));
  for (MessageStatus s : {MessageStatus::delivered, MessageStatus::bounced, MessageStatus::expired,
                          MessageStatus::rejected})
    EXPECT_TRUE(is_final(s)) << to_string(s);
}

TEST(Vocabulary, PhasesRoundTrip) {
  std::set<std::string> names;
  for (Phase p : kPhases) {
    EXPECT_EQ(parse_phase(to_string(p)), p);
    names.insert(std::string(to_string(p)));
  }
  EXPECT_EQ(names.size(), kPhases.size());
  EXPECT_EQ(to_string(Phase::data_end), "data-end");  // the stored name
  EXPECT_EQ(to_string(Phase::none), "");
  EXPECT_FALSE(parse_phase("data_end"));
  EXPECT_FALSE(parse_phase("dot"));
}

}  // namespace
}  // namespace tern::core
