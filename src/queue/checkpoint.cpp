#include "queue/checkpoint.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

#include "queue/record.hpp"

namespace tern::queue::detail {

namespace {

constexpr char kMagic[8] = {'T', 'R', 'N', 'C', 'K', 'P', 'T', '1'};
constexpr size_t kFrameHead = sizeof kMagic + 8;

void put64(std::string& b, uint64_t v) {
  char c[8];
  for (int i = 0; i < 8; ++i) c[i] = static_cast<char>(v >> (8 * i));
  b.append(c, 8);
}
void put32(std::string& b, uint32_t v) {
  char c[4];
  for (int i = 0; i < 4; ++i) c[i] = static_cast<char>(v >> (8 * i));
  b.append(c, 4);
}
void put_id(std::string& b, std::string_view id) {
  b.push_back(static_cast<char>(static_cast<uint8_t>(id.size())));
  b.append(id);
}
void put_extent(std::string& b, const Extent& e) {
  put64(b, e.seg);
  put64(b, e.off);
  put32(b, e.len);
}
void put_extents(std::string& b, const std::vector<Extent>& v) {
  put32(b, static_cast<uint32_t>(v.size()));
  for (const auto& e : v) put_extent(b, e);
}
template <class C>
void put_seqs(std::string& b, const C& v) {
  put32(b, static_cast<uint32_t>(v.size()));
  for (uint64_t s : v) put64(b, s);
}

// Bounds-checked reader; any failure is sticky.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  size_t left() const { return s_.size() - p_; }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(s_[p_ + i])} << (8 * i);
    p_ += 8;
    return v;
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(s_[p_ + i])} << (8 * i);
    p_ += 4;
    return v;
  }
  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(s_[p_++]);
  }
  void id(std::string& out) {
    const size_t n = u8();
    if (!ok_ || n == 0 || n > record::kMaxIdLen || !need(n)) return fail();
    std::string_view v = s_.substr(p_, n);
    if (!record::valid_id(v)) return fail();
    out.assign(v);
    p_ += n;
  }
  void extent(Extent& e) {
    e.seg = u64();
    e.off = u64();
    e.len = u32();
    if (e.len > record::kMaxPayload) fail();
  }
  // A count of items of at least `each` bytes: no larger than what is left can hold.
  uint64_t count(uint64_t n, size_t each) {
    if (!ok_ || n > left() / each) {
      fail();
      return 0;
    }
    return n;
  }
  void extents(std::vector<Extent>& v) {
    v.resize(count(u32(), 20));
    for (auto& e : v) extent(e);
  }
  void seqs(std::vector<uint64_t>& v) {
    v.resize(count(u32(), 8));
    for (size_t i = 0; i < v.size() && ok_; ++i) {
      v[i] = u64();
      if (i > 0 && v[i] <= v[i - 1]) fail();
    }
  }
  void bytes(uint8_t* out, size_t n) {
    if (!need(n)) return;
    std::memcpy(out, s_.data() + p_, n);
    p_ += n;
  }
  void fail() { ok_ = false; }

 private:
  bool need(size_t n) {
    if (!ok_ || left() < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view s_;
  size_t p_ = 0;
  bool ok_ = true;
};

std::array<uint8_t, kCheckpointChecksum> checksum(std::string_view bytes) {
  return checkpoint_hash(bytes);
}

}  // namespace

std::array<uint8_t, 32> checkpoint_hash(std::string_view bytes) {
  std::array<uint8_t, 32> out;
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const uint8_t*>(bytes.data()),
                     bytes.size(), nullptr, 0);
  return out;
}

CheckpointEncoder::CheckpointEncoder(const CheckpointHead& h, size_t reserve) {
  buf_.reserve(reserve + 4096);
  buf_.append(kMagic, sizeof kMagic);
  put64(buf_, 0);  // body length, set by finish()
  put64(buf_, h.pos_seg);
  put64(buf_, h.pos_off);
  put64(buf_, h.next_order);
  put32(buf_, static_cast<uint32_t>(h.segments.size()));
  for (const auto& s : h.segments) {
    put64(buf_, s.seq);
    put32(buf_, s.prefix_len);
    buf_.append(reinterpret_cast<const char*>(s.prefix_hash.data()), s.prefix_hash.size());
    put32(buf_, static_cast<uint32_t>(s.tombs.size()));
    for (const auto& t : s.tombs) put_seqs(buf_, t);
  }
  put32(buf_, static_cast<uint32_t>(h.writers.size()));
  for (const auto& w : h.writers) {
    put_id(buf_, w.id);
    put64(buf_, w.bytes);
    put_extents(buf_, w.data);
    put_seqs(buf_, w.segs);
  }
  put64(buf_, h.live_count);
  expected_ = h.live_count;
}

void CheckpointEncoder::add(std::string_view id, const LiveMessage& m) {
  ++added_;
  put_id(buf_, id);
  put64(buf_, static_cast<uint64_t>(m.account_id));
  put64(buf_, static_cast<uint64_t>(m.received_ms));
  put64(buf_, static_cast<uint64_t>(m.due_ms));
  buf_.push_back(static_cast<char>((m.held ? 1 : 0) | (m.has_state ? 2 : 0)));
  put_extent(buf_, m.commit);
  put_extent(buf_, m.state);
  put_extents(buf_, m.data);
  put_seqs(buf_, m.segs);
  put64(buf_, m.order);
}

void CheckpointEncoder::add(const CheckpointLive& m) {
  ++added_;
  put_id(buf_, m.id);
  put64(buf_, static_cast<uint64_t>(m.account_id));
  put64(buf_, static_cast<uint64_t>(m.received_ms));
  put64(buf_, static_cast<uint64_t>(m.due_ms));
  buf_.push_back(static_cast<char>((m.held ? 1 : 0) | (m.has_state ? 2 : 0)));
  put_extent(buf_, m.commit);
  put_extent(buf_, m.state);
  put_extents(buf_, m.data);
  put_seqs(buf_, m.segs);
  put64(buf_, m.order);
}

std::string CheckpointEncoder::finish() {
  // A count that does not match what was added would be refused by decode: never write it.
  if (added_ != expected_) return {};
  const uint64_t body = buf_.size() - kFrameHead;
  for (int i = 0; i < 8; ++i) buf_[sizeof kMagic + i] = static_cast<char>(body >> (8 * i));
  auto sum = checksum(buf_);
  buf_.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return std::move(buf_);
}

std::string frame_checkpoint(std::string_view body) {
  std::string out(kMagic, sizeof kMagic);
  put64(out, body.size());
  out.append(body);
  auto sum = checksum(out);
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

core::Result<CheckpointHead> decode_checkpoint(
    std::string_view file, const std::function<bool(CheckpointLive&)>& on_live) {
  if (file.size() < kFrameHead + kCheckpointChecksum ||
      std::memcmp(file.data(), kMagic, sizeof kMagic) != 0)
    return core::Error::perm("checkpoint: not a checkpoint file");
  Reader len(file.substr(sizeof kMagic, 8));
  const uint64_t body = len.u64();
  if (body != file.size() - kFrameHead - kCheckpointChecksum)
    return core::Error::perm("checkpoint: length does not match the file");
  auto sum = checksum(file.substr(0, file.size() - kCheckpointChecksum));
  if (std::memcmp(sum.data(), file.data() + file.size() - kCheckpointChecksum, sum.size()) != 0)
    return core::Error::perm("checkpoint: checksum mismatch");
  return decode_checkpoint_body(file.substr(kFrameHead, body), on_live);
}

core::Result<CheckpointHead> decode_checkpoint_body(
    std::string_view body, const std::function<bool(CheckpointLive&)>& on_live) {
  Reader r(body);
  CheckpointHead h;
  h.pos_seg = r.u64();
  h.pos_off = r.u64();
  h.next_order = r.u64();
  h.segments.resize(r.count(r.u32(), 8 + 4 + 32 + 4));
  for (size_t i = 0; i < h.segments.size() && r.ok(); ++i) {
    auto& s = h.segments[i];
    s.seq = r.u64();
    if (i > 0 && s.seq <= h.segments[i - 1].seq) r.fail();
    s.prefix_len = r.u32();
    if (s.prefix_len > kCheckpointPrefix) r.fail();
    r.bytes(s.prefix_hash.data(), s.prefix_hash.size());
    s.tombs.resize(r.count(r.u32(), 4));
    for (auto& t : s.tombs) r.seqs(t);
  }
  h.writers.resize(r.count(r.u32(), 17));
  for (auto& w : h.writers) {
    r.id(w.id);
    w.bytes = r.u64();
    r.extents(w.data);
    r.seqs(w.segs);
  }
  h.live_count = r.count(r.u64(), 1 + 1 + 24 + 1 + 40 + 8 + 8);
  CheckpointLive m;
  for (uint64_t i = 0; i < h.live_count && r.ok(); ++i) {
    r.id(m.id);
    m.account_id = static_cast<int64_t>(r.u64());
    m.received_ms = static_cast<int64_t>(r.u64());
    m.due_ms = static_cast<int64_t>(r.u64());
    const uint8_t flags = r.u8();
    if (flags > 3) r.fail();
    m.held = flags & 1;
    m.has_state = flags & 2;
    r.extent(m.commit);
    r.extent(m.state);
    r.extents(m.data);
    r.seqs(m.segs);
    m.order = r.u64();
    if (!r.ok()) break;
    if (!on_live(m)) return core::Error::perm("checkpoint: a live message was refused");
  }
  if (!r.ok()) return core::Error::perm("checkpoint: malformed body");
  if (r.left() != 0) return core::Error::perm("checkpoint: trailing bytes");
  return h;
}

}  // namespace tern::queue::detail
