// Conformance (conformance.hpp): the node registry (store/node_registry.hpp) on every backend,
// with two instances over one store standing for two machines of a region. A second data dir
// under a node id that checks in fresh is refused and writes nothing; the same data dir is
// renewed (a restart after kill -9 included); a silent, a cleanly stopped or a pre-instance row is
// taken over; check_out of a node that lost its id changes nothing; list() shows every row.
// Two runs of one instance (a cloned data dir): a start that finds a fresh run looks again and
// is a duplicate when that run beat meanwhile, takes the row when it did not; the run that lost
// the row is a duplicate at its next heartbeat, and its check_out changes nothing.
#include "store/node_registry.hpp"
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

constexpr int64_t kLease = 30'000;
constexpr int64_t kT0 = 1'795'000'000'000;

NodeRecord node(const std::string& id, const std::string& instance, const std::string& host) {
  return NodeRecord{.node_id = id,
                    .instance = instance,
                    .hostname = host,
                    .address = host + ":8080",
                    .version = "test"};
}

template <class B>
class NodeRegistryConformance : public Conformance<B> {
 protected:
  void SetUp() override {
    Conformance<B>::SetUp();
    second_ = this->open_again("node-1");
    ASSERT_TRUE(this->backend_.nodes);
    ASSERT_TRUE(second_.nodes);
  }
  NodeRegistry& r1() { return *this->backend_.nodes; }
  NodeRegistry& r2() { return *second_.nodes; }
  static CheckInPlan check_in(NodeRegistry& r, const NodeRecord& me, int64_t now,
                              const CheckInRound& round = {}) {
    auto p = r.check_in(me, now, kLease, round);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? p.value() : CheckInPlan{};
  }
  std::vector<NodeRecord> list() {
    auto l = r2().list();
    EXPECT_TRUE(l.ok()) << l.error().message;
    return l.ok() ? l.value() : std::vector<NodeRecord>{};
  }
  Backend second_;
};
TYPED_TEST_SUITE(NodeRegistryConformance, Backends, BackendNames);

TYPED_TEST(NodeRegistryConformance, ASecondDataDirUnderAFreshIdIsRefused) {
  const NodeRecord a = node("node-1", "i-aaaaaaaa", "mx-a");
  const NodeRecord b = node("node-1", "i-bbbbbbbb", "mx-b");
  EXPECT_EQ(this->check_in(this->r1(), a, kT0).verdict, CheckInVerdict::joined);
  const CheckInPlan refused = this->check_in(this->r2(), b, kT0 + 1000);
  EXPECT_EQ(refused.verdict, CheckInVerdict::refused);
  EXPECT_EQ(refused.row.instance, "i-aaaaaaaa");  // the other one, for the message
  EXPECT_EQ(refused.row.hostname, "mx-a");
  EXPECT_EQ(refused.row.address, "mx-a:8080");
  // Still refused just inside the lease; nothing of b was written.
  EXPECT_EQ(this->check_in(this->r2(), b, kT0 + kLease - 1).verdict, CheckInVerdict::refused);
  auto rows = this->list();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].instance, "i-aaaaaaaa");
  EXPECT_EQ(rows[0].seen_ms, kT0);
  // Another id is another node: both are listed, by id.
  EXPECT_EQ(this->check_in(this->r2(), node("node-0", "i-bbbbbbbb", "mx-b"), kT0).verdict,
            CheckInVerdict::joined);
  rows = this->list();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].node_id, "node-0");
  EXPECT_EQ(rows[1].node_id, "node-1");
}

TYPED_TEST(NodeRegistryConformance, TheSameDataDirIsRenewedAlsoRightAfterACrash) {
  const NodeRecord a = node("node-1", "i-aaaaaaaa", "mx-a");
  EXPECT_EQ(this->check_in(this->r1(), a, kT0).verdict, CheckInVerdict::joined);
  EXPECT_EQ(this->check_in(this->r1(), a, kT0 + 5000).verdict, CheckInVerdict::renewed);
  // kill -9, restarted at once from the same data dir (another process: the second instance):
  // its own heartbeat is fresh, it starts; the run it continues keeps its start time.
  const CheckInPlan again = this->check_in(this->r2(), a, kT0 + 6000);
  EXPECT_EQ(again.verdict, CheckInVerdict::renewed);
  auto rows = this->list();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].started_ms, kT0);
  EXPECT_EQ(rows[0].seen_ms, kT0 + 6000);
  EXPECT_TRUE(rows[0].alive(kT0 + 6000, kLease));
}

TYPED_TEST(NodeRegistryConformance, ASilentOrCleanlyStoppedNodeIsTakenOver) {
  const NodeRecord a = node("node-1", "i-aaaaaaaa", "mx-a");
  const NodeRecord b = node("node-1", "i-bbbbbbbb", "mx-b");
  EXPECT_EQ(this->check_in(this->r1(), a, kT0).verdict, CheckInVerdict::joined);
  // a's machine died: silent for lease_s, its id goes to the replacement.
  EXPECT_EQ(this->check_in(this->r2(), b, kT0 + kLease).verdict, CheckInVerdict::took_over);
  auto rows = this->list();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].instance, "i-bbbbbbbb");
  EXPECT_EQ(rows[0].hostname, "mx-b");
  EXPECT_EQ(rows[0].started_ms, kT0 + kLease);
  // a comes back: now it is the second one, refused; its check_out changes nothing.
  EXPECT_EQ(this->check_in(this->r1(), a, kT0 + kLease + 1000).verdict, CheckInVerdict::refused);
  ASSERT_TRUE(this->r1().check_out(a, kT0 + kLease + 1000).ok());
  EXPECT_EQ(this->list()[0].stopped_ms, 0);
  // b stops cleanly: the id is free at once, for a (no need to wait out the lease).
  ASSERT_TRUE(this->r2().check_out(b, kT0 + kLease + 2000).ok());
  rows = this->list();
  EXPECT_EQ(rows[0].stopped_ms, kT0 + kLease + 2000);
  EXPECT_FALSE(rows[0].alive(kT0 + kLease + 2000, kLease));
  EXPECT_EQ(this->check_in(this->r1(), a, kT0 + kLease + 3000).verdict, CheckInVerdict::took_over);
  rows = this->list();
  EXPECT_EQ(rows[0].instance, "i-aaaaaaaa");
  EXPECT_EQ(rows[0].stopped_ms, 0);
}

TYPED_TEST(NodeRegistryConformance, ARowOfABinaryBeforeInstancesIsTakenOver) {
  // An older binary made a new random instance (16 hex digits) per process: a restart of the
  // same machine under the new binary cannot be told from another machine; it is let in.
  EXPECT_EQ(this->check_in(this->r1(), node("node-1", "0123456789abcdef", "mx-a"), kT0).verdict,
            CheckInVerdict::joined);
  EXPECT_EQ(this->check_in(this->r2(), node("node-1", "i-bbbbbbbb", "mx-a"), kT0 + 1000).verdict,
            CheckInVerdict::took_over);
}

TYPED_TEST(NodeRegistryConformance, TwoRunsOfOneInstanceAreToldApartByTheirNonce) {
  NodeRecord a = node("node-1", "i-aaaaaaaa", "mx-a");
  a.run = "r-first";
  NodeRecord clone = a;  // a cloned VM: same data dir instance, another process
  clone.run = "r-clone";
  clone.address = "mx-clone:8080";
  const CheckInRound beat{.heartbeat = true};
  EXPECT_EQ(this->check_in(this->r1(), a, kT0).verdict, CheckInVerdict::joined);
  const CheckInPlan first = this->check_in(this->r2(), clone, kT0 + 1000);
  EXPECT_EQ(first.verdict, CheckInVerdict::contested);
  EXPECT_EQ(first.row.run, "r-first");
  // a beats meanwhile: the clone's second look is a duplicate; nothing of it was written.
  EXPECT_EQ(this->check_in(this->r1(), a, kT0 + 2000, beat).verdict, CheckInVerdict::renewed);
  EXPECT_EQ(
      this->check_in(this->r2(), clone, kT0 + 3000, CheckInRound{.contested = first.row}).verdict,
      CheckInVerdict::duplicate);
  auto rows = this->list();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].run, "r-first");
  EXPECT_EQ(rows[0].address, "mx-a:8080");
  EXPECT_EQ(rows[0].seen_ms, kT0 + 2000);
  // a is paused (no beats): the clone's second look finds the row unchanged and takes it.
  const CheckInPlan again = this->check_in(this->r2(), clone, kT0 + 4000);
  EXPECT_EQ(again.verdict, CheckInVerdict::contested);
  EXPECT_EQ(
      this->check_in(this->r2(), clone, kT0 + 8000, CheckInRound{.contested = again.row}).verdict,
      CheckInVerdict::renewed);
  rows = this->list();
  EXPECT_EQ(rows[0].run, "r-clone");
  EXPECT_EQ(rows[0].address, "mx-clone:8080");
  // a resumes: its heartbeat is a duplicate, writes nothing, and its clean stop is not the
  // clone's.
  const CheckInPlan dup = this->check_in(this->r1(), a, kT0 + 9000, beat);
  EXPECT_EQ(dup.verdict, CheckInVerdict::duplicate);
  EXPECT_EQ(dup.row.run, "r-clone");
  ASSERT_TRUE(this->r1().check_out(a, kT0 + 9000).ok());
  rows = this->list();
  EXPECT_EQ(rows[0].run, "r-clone");
  EXPECT_EQ(rows[0].seen_ms, kT0 + 8000);
  EXPECT_EQ(rows[0].stopped_ms, 0);
  // The clone's own clean stop is recorded.
  ASSERT_TRUE(this->r2().check_out(clone, kT0 + 10'000).ok());
  EXPECT_EQ(this->list()[0].stopped_ms, kT0 + 10'000);
}

}  // namespace
}  // namespace tern::store::conformance
