// The checkpoint codec (queue/checkpoint.hpp): a round trip keeps every field; any flipped
// byte of a file is refused (checksum); bodies that are not what the encoder writes are
// refused with an error (counts past the end, bad ids, unsorted sequences, unknown flags,
// trailing bytes, a live count that does not match).
#include <gtest/gtest.h>
#include <sodium.h>

#include "queue/checkpoint.hpp"

using namespace tern;
using namespace tern::queue::detail;

namespace {

CheckpointHead head() {
  CheckpointHead h;
  h.pos_seg = 7;
  h.pos_off = 123456;
  h.next_order = 42;
  h.segments = {{3, {{1, 2}, {2}}}, {5, {}}, {7, {{3, 5}}}};
  h.writers = {{"W1AAAAAAAAAAAAAAAAAA", 1500, {{5, 100, 1000}, {7, 40, 500}}, {5, 7}}};
  h.live_count = 2;
  return h;
}

std::vector<CheckpointLive> lives() {
  CheckpointLive a;
  a.id = "L1AAAAAAAAAAAAAAAAAA";
  a.account_id = 9;
  a.received_ms = 1700000000000;
  a.due_ms = 1700000060000;
  a.held = true;
  a.has_state = true;
  a.commit = {3, 4000, 600};
  a.state = {7, 9000, 200};
  a.data = {{3, 64, 3000}};
  a.segs = {3, 7};
  a.order = 40;
  CheckpointLive b;
  b.id = "L2BBBBBBBBBBBBBBBBBB";
  b.account_id = -1;
  b.due_ms = INT64_MAX;
  b.commit = {5, 10, 500};
  b.segs = {5};
  b.order = 41;
  return {a, b};
}

std::string encode(const CheckpointHead& h, const std::vector<CheckpointLive>& v) {
  CheckpointEncoder e(h);
  for (const auto& m : v) e.add(m);
  return e.finish();
}

core::Result<CheckpointHead> decode(std::string_view file, std::vector<CheckpointLive>* out) {
  return decode_checkpoint(file, [&](CheckpointLive& m) {
    if (out) out->push_back(m);
    return true;
  });
}

bool same(const Extent& a, const Extent& b) {
  return a.seg == b.seg && a.off == b.off && a.len == b.len;
}

}  // namespace

TEST(CheckpointCodec, RoundTripKeepsEveryField) {
  ASSERT_GE(sodium_init(), 0);
  const std::string file = encode(head(), lives());
  std::vector<CheckpointLive> got;
  auto h = decode(file, &got);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h.value().pos_seg, 7u);
  EXPECT_EQ(h.value().pos_off, 123456u);
  EXPECT_EQ(h.value().next_order, 42u);
  ASSERT_EQ(h.value().segments.size(), 3u);
  EXPECT_EQ(h.value().segments[0].tombs, (std::vector<std::vector<uint64_t>>{{1, 2}, {2}}));
  ASSERT_EQ(h.value().writers.size(), 1u);
  EXPECT_EQ(h.value().writers[0].bytes, 1500u);
  EXPECT_TRUE(same(h.value().writers[0].data[1], Extent{7, 40, 500}));
  ASSERT_EQ(got.size(), 2u);
  const auto want = lives();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].account_id, want[i].account_id);
    EXPECT_EQ(got[i].received_ms, want[i].received_ms);
    EXPECT_EQ(got[i].due_ms, want[i].due_ms);
    EXPECT_EQ(got[i].held, want[i].held);
    EXPECT_EQ(got[i].has_state, want[i].has_state);
    EXPECT_TRUE(same(got[i].commit, want[i].commit));
    EXPECT_TRUE(same(got[i].state, want[i].state));
    EXPECT_EQ(got[i].data.size(), want[i].data.size());
    EXPECT_EQ(got[i].segs, want[i].segs);
    EXPECT_EQ(got[i].order, want[i].order);
  }
  // Re-encoding what was decoded gives the same bytes.
  EXPECT_EQ(encode(h.value(), got), file);
}

TEST(CheckpointCodec, EveryFlippedByteIsRefused) {
  ASSERT_GE(sodium_init(), 0);
  const std::string file = encode(head(), lives());
  for (size_t i = 0; i < file.size(); ++i) {
    std::string b = file;
    b[i] = static_cast<char>(b[i] ^ 0x01);
    EXPECT_FALSE(decode(b, nullptr).ok()) << "byte " << i;
  }
  EXPECT_FALSE(decode(file.substr(0, file.size() - 1), nullptr).ok());
  EXPECT_FALSE(decode(file + '\0', nullptr).ok());
  EXPECT_FALSE(decode("", nullptr).ok());
}

TEST(CheckpointCodec, BodiesTheEncoderNeverWritesAreRefused) {
  ASSERT_GE(sodium_init(), 0);
  auto body_of = [](const std::string& file) { return file.substr(16, file.size() - 16 - 32); };
  auto refused = [](const CheckpointHead& h, const std::vector<CheckpointLive>& v) {
    CheckpointEncoder e(h);
    for (const auto& m : v) e.add(m);
    std::string f = e.finish();
    if (f.empty()) return true;  // the encoder itself refuses a wrong count
    return !decode_checkpoint(f, [](CheckpointLive&) { return true; }).ok();
  };
  auto h = head();
  auto v = lives();
  EXPECT_TRUE(refused(h, {v[0]})) << "fewer live messages than counted";
  auto bad_id = v;
  bad_id[0].id = "../etc/passwd";
  EXPECT_FALSE(refused(h, v));
  EXPECT_TRUE(refused(h, bad_id)) << "an id recovery would never accept";
  auto unsorted = v;
  unsorted[0].segs = {7, 3};
  EXPECT_TRUE(refused(h, unsorted));
  auto dup = v;
  dup[0].segs = {3, 3};
  EXPECT_TRUE(refused(h, dup));
  auto long_extent = v;
  long_extent[1].commit.len = (16u << 20) + 1;
  EXPECT_TRUE(refused(h, long_extent));
  auto segs_unsorted = h;
  std::swap(segs_unsorted.segments[0], segs_unsorted.segments[1]);
  EXPECT_TRUE(refused(segs_unsorted, v));

  const std::string body = body_of(encode(head(), lives()));
  auto body_ok = [](const std::string& b) {
    return decode_checkpoint_body(b, [](CheckpointLive&) { return true; }).ok();
  };
  EXPECT_TRUE(body_ok(body));
  EXPECT_TRUE(decode_checkpoint(frame_checkpoint(body), [](CheckpointLive&) { return true; }).ok());
  EXPECT_FALSE(body_ok(body + "x")) << "trailing bytes";
  EXPECT_FALSE(body_ok(body.substr(0, body.size() - 1)));
  std::string huge = body;
  huge[24] = '\xff';  // the segment count
  huge[25] = '\xff';
  EXPECT_FALSE(body_ok(huge));
  // A refusal from the caller is an error, not a partial success.
  EXPECT_FALSE(decode_checkpoint_body(body, [](CheckpointLive&) { return false; }).ok());
}
