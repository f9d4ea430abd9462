// Open-time replay of the spool log: rebuilds the live index, cuts a torn tail, quarantines
// messages touched by damage, and reclaims dead segments.
//
// Decisions (one pass over all segments in order, then one verdict per message):
//  - A record cut short (fewer bytes than its length) at the end of the newest segment, with
//    no valid record after it, is an unacknowledged partial write: it is cut (ftruncate) and
//    counted. A record there that is whole but fails its check (a flipped byte, possibly in
//    an acknowledged COMMIT) is damage like any other: the message it names is quarantined.
//  - Any other bad record is damage. Scanning resumes at the next offset where a valid record
//    starts. The damage marks as suspect the message whose id the broken header still names.
//  - A committed message is live only if its DATA records add up to the size, count and
//    BLAKE2b recorded in its COMMIT and nothing suspicious touched it; otherwise it is
//    quarantined. An uncommitted message is silently dropped (a crash mid-receive) unless
//    damage follows its first record - its COMMIT could be in the damaged bytes - in which
//    case it is quarantined too: an accepted message is never silently dropped.
//  - Quarantine writes <dir>/quarantine/<id>.eml (recoverable content) and <id>.json (what is
//    known), then a durable DONE so the next open does not quarantine it again.
//  - read_only never writes: torn tails are ignored, damaged messages are only logged.
#include <fcntl.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "queue/checkpoint.hpp"
#include "queue/envelope_scan.hpp"
#include "queue/spool_core.hpp"

namespace tern::queue::detail {

namespace fs = std::filesystem;

namespace {

using Pos = std::pair<uint64_t, uint64_t>;  // (segment, offset)

enum class ReadResult { ok, bad, io_error };

bool pread_full(int fd, void* buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, static_cast<char*>(buf) + got, n - got, static_cast<off_t>(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

struct Parsed {
  record::Header hdr;
  std::string_view id;
  std::string_view payload;
  std::optional<std::string> suspect;  // id named by a bad record, when readable
};

// Sequential reads of a segment through one large buffer: recovery reads every record once,
// front to back, so two system calls per record (header, body) become one per few MiB.
class Window {
 public:
  explicit Window(int fd) : fd_(fd) {}
  // n bytes at off (off + n <= size), or nullptr on a read error. Valid until the next call.
  const uint8_t* at(uint64_t off, size_t n, uint64_t size) {
    if (off >= start_ && off + n <= start_ + len_) return data() + (off - start_);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, kChunk), size - off));
    if (buf_.size() < want) buf_.resize(want);
    if (!pread_full(fd_, buf_.data(), want, off)) {
      len_ = 0;
      return nullptr;
    }
    start_ = off;
    len_ = want;
    return data();
  }

 private:
  static constexpr size_t kChunk = 4 << 20;
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(buf_.data()); }
  int fd_;
  std::string buf_;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

ReadResult read_record(int fd, uint64_t off, uint64_t size, std::string& buf, Parsed& out,
                       Window* win = nullptr) {
  out.suspect.reset();
  if (size - off < record::kHeaderSize) return ReadResult::bad;
  if (win) {
    // Fast path: the whole record from the window (the slow path below handles damage).
    const uint8_t* hp = win->at(off, record::kHeaderSize, size);
    if (!hp) return ReadResult::io_error;
    auto hdr = record::parse_header(hp);
    if (hdr && off + hdr->total() <= size) {
      const uint8_t* rp = win->at(off, hdr->total(), size);
      if (!rp) return ReadResult::io_error;
      std::string_view all(reinterpret_cast<const char*>(rp) + record::kHeaderSize,
                           hdr->id_len + static_cast<size_t>(hdr->len));
      out.hdr = *hdr;
      out.id = all.substr(0, hdr->id_len);
      out.payload = all.substr(hdr->id_len);
      if (record::tag_matches(rp, out.id, out.payload) && record::valid_id(out.id))
        return ReadResult::ok;
    }
  }
  uint8_t h[record::kHeaderSize];
  if (!pread_full(fd, h, sizeof h, off)) return ReadResult::io_error;
  auto hdr = record::parse_header(h);
  if (!hdr || off + hdr->total() > size) {
    // Still try to learn whose record this was, so damage is attributed.
    if (std::memcmp(h, record::kMagic, 4) == 0) {
      size_t id_len = static_cast<size_t>(h[8] | (h[9] << 8));
      if (id_len > 0 && id_len <= record::kMaxIdLen && off + record::kHeaderSize + id_len <= size) {
        std::string id(id_len, '\0');
        if (!pread_full(fd, id.data(), id_len, off + record::kHeaderSize))
          return ReadResult::io_error;
        if (record::valid_id(id)) out.suspect = std::move(id);
      }
    }
    return ReadResult::bad;
  }
  buf.resize(hdr->id_len + static_cast<size_t>(hdr->len));
  if (!pread_full(fd, buf.data(), buf.size(), off + record::kHeaderSize))
    return ReadResult::io_error;
  std::string_view all(buf);
  out.hdr = *hdr;
  out.id = all.substr(0, hdr->id_len);
  out.payload = all.substr(hdr->id_len);
  if (!record::tag_matches(h, out.id, out.payload)) {
    if (record::valid_id(out.id)) out.suspect = std::string(out.id);
    return ReadResult::bad;
  }
  if (!record::valid_id(out.id)) return ReadResult::bad;
  return ReadResult::ok;
}

// A bad record at the very end of the newest segment is a torn write only if it is cut
// short: fewer bytes than its length. Returns the length of the record at off when the bytes
// up to size hold it whole (so its check failed on a flipped byte, not on a partial write),
// else 0. A damaged length, type or magic field could make a whole record look cut short (or
// shorter than it is), so the record is first tried as exactly the rest of the file with
// those fields repaired: if its tag then matches, it was whole and is all of the rest.
// Otherwise it is whole if its fields parse and its declared length fits. named gets the id a whole
// record names, body its id and payload bytes (for what can be read of a damaged COMMIT).
ReadResult whole_damaged_record(int fd, uint64_t off, uint64_t size, uint64_t& whole,
                                std::optional<std::string>& named, std::string& body) {
  whole = 0;
  named.reset();
  const uint64_t rem = size - off;
  if (rem < record::kHeaderSize) return ReadResult::ok;
  uint8_t h[record::kHeaderSize];
  if (!pread_full(fd, h, sizeof h, off)) return ReadResult::io_error;
  const uint64_t rest = rem - record::kHeaderSize;
  auto read_body = [&](uint64_t n) {
    body.resize(static_cast<size_t>(n));
    return n == 0 || pread_full(fd, body.data(), body.size(), off + record::kHeaderSize);
  };
  auto name = [&](size_t id_len) {
    std::string id = body.substr(0, id_len);
    if (record::valid_id(id)) named = std::move(id);
  };
  auto fits_as_declared = [&]() -> ReadResult {
    auto hdr = record::parse_header(h);
    if (!hdr || hdr->total() > rem) return ReadResult::ok;
    if (!read_body(hdr->id_len + uint64_t{hdr->len})) return ReadResult::io_error;
    name(hdr->id_len);
    whole = hdr->total();
    return ReadResult::ok;
  };
  if (rest > record::kMaxIdLen + uint64_t{record::kMaxPayload}) return fits_as_declared();
  const uint16_t raw_id = static_cast<uint16_t>(h[8] | (h[9] << 8));
  const uint32_t raw_len = static_cast<uint32_t>(h[12]) | (static_cast<uint32_t>(h[13]) << 8) |
                           (static_cast<uint32_t>(h[14]) << 16) |
                           (static_cast<uint32_t>(h[15]) << 24);
  std::vector<std::pair<uint64_t, uint64_t>> fits;  // (id_len, len) that fill exactly rest
  if (raw_id >= 1 && raw_id <= record::kMaxIdLen && raw_id <= rest)
    fits.push_back({raw_id, rest - raw_id});
  if (raw_len <= rest && rest - raw_len >= 1 && rest - raw_len <= record::kMaxIdLen)
    fits.push_back({rest - raw_len, raw_len});
  if (fits.empty()) return fits_as_declared();
  if (!read_body(rest)) return ReadResult::io_error;
  const bool type_ok = h[4] >= static_cast<uint8_t>(record::Type::data) &&
                       h[4] <= static_cast<uint8_t>(record::Type::abort);
  for (const auto& [id_len, len] : fits) {
    for (uint8_t t = 1; t <= 5; ++t) {
      if (type_ok && t != h[4]) continue;
      uint8_t fixed[record::kHeaderSize] = {};
      std::memcpy(fixed, record::kMagic, 4);
      fixed[4] = t;
      fixed[8] = static_cast<uint8_t>(id_len);
      fixed[9] = static_cast<uint8_t>(id_len >> 8);
      for (int i = 0; i < 4; ++i) fixed[12 + i] = static_cast<uint8_t>(len >> (8 * i));
      std::memcpy(fixed + 16, h + 16, record::kTagSize);
      std::string_view all(body);
      if (record::tag_matches(fixed, all.substr(0, id_len), all.substr(id_len))) {
        name(static_cast<size_t>(id_len));
        whole = rem;
        return ReadResult::ok;
      }
    }
  }
  return fits_as_declared();
}

// The first offset >= from where a valid record starts, or size if none.
ReadResult find_next_record(int fd, uint64_t from, uint64_t size, uint64_t& found) {
  constexpr size_t kWindow = 1 << 16;
  std::string win(kWindow + 3, '\0');
  std::string buf;
  Parsed p;
  for (uint64_t pos = from; pos + record::kHeaderSize <= size; pos += kWindow) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kWindow + 3, size - pos));
    if (!pread_full(fd, win.data(), n, pos)) return ReadResult::io_error;
    std::string_view w(win.data(), n);
    for (size_t i = w.find("TRNR"); i != std::string_view::npos && i < kWindow;
         i = w.find("TRNR", i + 1)) {
      ReadResult r = read_record(fd, pos + i, size, buf, p);
      if (r == ReadResult::io_error) return r;
      if (r == ReadResult::ok) {
        found = pos + i;
        return ReadResult::ok;
      }
    }
  }
  found = size;
  return ReadResult::ok;
}

bool write_file_durably(const fs::path& path, const std::function<bool(int)>& fill, bool sync) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  bool ok = fill(fd) && (!sync || ::fsync(fd) == 0);
  ok = (::close(fd) == 0) && ok;
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

struct Core::ScanState {
  struct Msg {
    std::vector<Extent> data;
    uint64_t bytes = 0;
    std::unique_ptr<record::ContentHash> hash;  // of its DATA so far; dropped at its COMMIT
    bool content_ok = false;                    // at COMMIT: size, count and hash match
    std::set<uint64_t> segs;
    bool committed = false;
    bool dead = false;
    uint64_t dead_seg = 0;
    bool have_env = false;  // its COMMIT decoded: the fields below are known
    LiveMessage live;       // summary, commit and state positions
    Pos first{UINT64_MAX, 0};
    uint64_t order = 0;
    std::string problem;
  };
  // Looked up by the record's id without a string made per record (heterogeneous lookup).
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Msg, IdHash, std::equal_to<>> msgs;
  std::vector<Pos> bad;
  std::set<std::string> suspects;
  uint64_t order = 0;
  // Envelopes still readable from damaged COMMIT records, for the quarantine report.
  std::map<std::string, QueuedMessage> damaged_envelopes;

  void note_damaged_commit(const std::string& id, std::string_view body) {
    if (body.size() <= id.size()) return;
    auto j = nlohmann::json::parse(body.substr(id.size()), nullptr, false);
    try {
      if (!j.is_object() || !j.contains("envelope")) return;
      auto m = j.at("envelope").get<QueuedMessage>();
      if (m.id == id) damaged_envelopes[id] = std::move(m);
    } catch (const std::exception&) {
    }
  }

  // After a checkpoint: a record of a message the checkpoint has as live takes it over from
  // the live index (as the scan would have it after its COMMIT), so it is judged again.
  std::function<void(const std::string&, Msg&)> adopt;

  void apply(uint64_t seq, uint64_t off, const Parsed& p) {
    auto found = msgs.find(p.id);
    if (found == msgs.end()) {
      found = msgs.try_emplace(std::string(p.id)).first;
      if (adopt) adopt(found->first, found->second);
    }
    Msg& m = found->second;
    // A record after the message's DONE/ABORT is ignored, but its segment still counts as the
    // message's: the tombstone in the death's segment then keeps that segment until this one
    // is gone, so reclaiming it never brings the record back to life at the next open (found
    // by spool_fuzz: a COMMIT after an ABORT quarantined the message one open later).
    m.segs.insert(seq);
    if (m.dead) return;
    if (m.first.first == UINT64_MAX) m.first = {seq, off};
    switch (p.hdr.type) {
      case record::Type::data:
        if (m.committed) {
          m.problem = "content record after its commit";
          return;
        }
        m.data.push_back(Extent{seq, off + record::kHeaderSize + p.hdr.id_len, p.hdr.len});
        m.bytes += p.hdr.len;
        if (!m.hash) m.hash = std::make_unique<record::ContentHash>();
        m.hash->update(p.payload);
        return;
      case record::Type::commit: {
        if (m.committed) {
          m.problem = "duplicate commit record";
          return;
        }
        m.committed = true;
        m.order = ++order;
        // Only the summary is kept: the envelope is decoded again when it is needed. The fast
        // scan reads just those fields; what it is not sure of is decoded in full.
        uint64_t content_size = 0, expect_records = 0;
        std::string expect_hash;
        CommitScan cs;
        if (scan_commit(p.payload, cs)) {
          m.live.account_id = cs.account_id;
          m.live.received_ms = cs.received_ms;
          m.live.held = cs.held;
          m.live.due_ms = cs.due_ms;
          content_size = cs.content_size;
          expect_hash = std::move(cs.content_hash);
          expect_records = cs.data_records;
          if (cs.id != p.id) m.problem = "commit record names another id";
        } else {
          auto info = decode_commit(p.payload);
          if (!info) {
            m.problem = "unreadable commit record: " + info.error().message;
            m.hash.reset();
            return;
          }
          m.live.summarize(info.value().msg);
          content_size = info.value().msg.content_size;
          expect_hash = std::move(info.value().content_hash);
          expect_records = info.value().data_records;
          if (info.value().msg.id != p.id) m.problem = "commit record names another id";
        }
        m.have_env = true;
        m.live.commit = Extent{seq, off + record::kHeaderSize + p.hdr.id_len, p.hdr.len};
        // Every DATA record comes before its COMMIT (a later one is a problem), so the
        // content can be judged now and the hash state freed.
        if (!m.hash) m.hash = std::make_unique<record::ContentHash>();
        m.content_ok = m.bytes == content_size && m.data.size() == expect_records &&
                       m.hash->hex_final() == expect_hash;
        m.hash.reset();
        return;
      }
      case record::Type::state: {
        if (!m.committed || !m.have_env) {
          if (!m.committed) m.problem = "state record before commit";
          return;
        }
        StateScan ss;
        if (scan_state(p.payload, m.live.held, ss)) {
          m.live.held = ss.held;
          m.live.due_ms = ss.due_ms;
        } else {
          QueuedMessage t;
          t.held = m.live.held;
          if (auto r = apply_state(p.payload, t); !r) {
            m.problem = "unreadable state record: " + r.error().message;
            return;
          }
          t.account_id = m.live.account_id;
          t.received_ms = m.live.received_ms;
          m.live.summarize(t);
        }
        m.live.state = Extent{seq, off + record::kHeaderSize + p.hdr.id_len, p.hdr.len};
        m.live.has_state = true;
        return;
      }
      case record::Type::done:
      case record::Type::abort:
        m.dead = true;
        m.dead_seg = seq;
        m.data.clear();
        m.hash.reset();
        m.have_env = false;
        return;
    }
  }
};

void Core::reset_index_locked() {
  live_.clear();
  order_.clear();
  next_order_ = 1;
  for (auto& [seq, seg] : segments_) {
    seg->refs = 0;
    seg->tombs.clear();
  }
}

bool Core::load_checkpoint_locked(ScanState& st, std::pair<uint64_t, uint64_t>& pos,
                                  std::vector<std::string>& must_die) {
  const std::string path = spool_dir_ + "/index.ckpt";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat sb;
  if (::fstat(fd, &sb) != 0 || sb.st_size <= 0) {
    ::close(fd);
    return false;
  }
  const size_t size = static_cast<size_t>(sb.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return false;
  (void)::madvise(map, size, MADV_SEQUENTIAL);
  std::string_view file(static_cast<const char*>(map), size);

  live_.reserve(static_cast<size_t>(size / 100));
  auto head = decode_checkpoint(file, [&](CheckpointLive& c) {
    LiveMessage lm;
    lm.account_id = c.account_id;
    lm.received_ms = c.received_ms;
    lm.due_ms = c.due_ms;
    lm.held = c.held;
    lm.has_state = c.has_state;
    lm.commit = c.commit;
    lm.state = c.state;
    lm.data = std::move(c.data);
    lm.order = c.order;
    bool lost = false;
    for (uint64_t s : c.segs) {
      auto it = segments_.find(s);
      if (it == segments_.end())
        lost = true;
      else
        ++it->second->refs;
      lm.segs.insert(lm.segs.end(), s);
    }
    auto [it, fresh] = live_.try_emplace(c.id, std::move(lm));
    if (!fresh) return false;  // an id twice
    auto [o, ofresh] = order_.try_emplace(it->second.order, &*it);
    if (!ofresh) return false;  // an order twice
    if (lost) must_die.push_back(c.id);
    return true;
  });
  ::munmap(map, size);
  auto fail = [&](const std::string& why) {
    spdlog::warn("spool: index checkpoint not used ({}): scanning the whole log", why);
    reset_index_locked();
    st = ScanState{};
    must_die.clear();
    return false;
  };
  if (!head) return fail(head.error().message);
  CheckpointHead& h = head.value();
  if (auto s = segments_.find(h.pos_seg); s != segments_.end() && s->second->size < h.pos_off)
    return fail("the log is shorter than its position");
  // Its own log, not another spool's (a stale index.ckpt beside new segments): the log goes
  // on to its position's segment at least, every segment up to there is one it saw, and the
  // first bytes of each, which never change, are those it saw.
  if (segments_.empty() || segments_.rbegin()->first < h.pos_seg)
    return fail("the log ends before its position");
  {
    std::map<uint64_t, const CheckpointSegment*> seen;
    for (const auto& cs : h.segments) seen[cs.seq] = &cs;
    std::string prefix;
    for (const auto& [seq, seg] : segments_) {
      if (seq > h.pos_seg) break;
      auto it = seen.find(seq);
      if (it == seen.end()) return fail("a segment it does not know");
      const CheckpointSegment& cs = *it->second;
      prefix.resize(cs.prefix_len);
      if (seg->size < cs.prefix_len || !pread_full(seg->fd, prefix.data(), prefix.size(), 0) ||
          checkpoint_hash(prefix) != cs.prefix_hash)
        return fail("a segment is not the one it saw");
    }
  }
  for (auto& cs : h.segments)
    if (auto s = segments_.find(cs.seq); s != segments_.end())
      s->second->tombs = std::move(cs.tombs);
  // Open writers: their content so far, hashed again from disk for the COMMIT that may follow.
  std::string buf;
  for (auto& w : h.writers) {
    auto [it, fresh] = st.msgs.try_emplace(w.id);
    if (!fresh || live_.count(w.id)) return fail("a writer named twice");
    ScanState::Msg& m = it->second;
    m.hash = std::make_unique<record::ContentHash>();
    m.bytes = w.bytes;
    m.first = w.data.empty() ? Pos{h.pos_seg, h.pos_off} : Pos{w.data[0].seg, w.data[0].off};
    for (uint64_t s : w.segs) m.segs.insert(s);
    bool lost = false;
    for (const Extent& e : w.data) {
      auto s = segments_.find(e.seg);
      if (s == segments_.end()) {
        lost = true;
        continue;
      }
      buf.resize(e.len);
      if (!pread_full(s->second->fd, buf.data(), e.len, e.off)) return fail("a read error");
      m.hash->update(buf);
    }
    if (lost) must_die.push_back(w.id);
    m.data = std::move(w.data);
  }
  next_order_ = std::max<uint64_t>(h.next_order, 1);
  pos = {h.pos_seg, h.pos_off};
  return true;
}

core::Result<void> Core::scan_segment(const SegmentPtr& seg, bool newest, ScanState& st,
                                      uint64_t from) {
  uint64_t size = seg->size;
  uint64_t off = from;
  if (size > from) stats_.bytes_scanned += size - from;
  std::string buf;
  Parsed p;
  Window win(seg->fd);
  while (off < size) {
    ReadResult r = read_record(seg->fd, off, size, buf, p, &win);
    if (r == ReadResult::io_error)
      return core::Error::temp("spool: read error in " + seg->path + ": " + std::strerror(errno));
    if (r == ReadResult::ok) {
      st.apply(seg->seq, off, p);
      off += p.hdr.total();
      continue;
    }
    uint64_t next = size;
    if (find_next_record(seg->fd, off + 1, size, next) == ReadResult::io_error)
      return core::Error::temp("spool: read error in " + seg->path + ": " + std::strerror(errno));
    uint64_t whole = 0;
    if (next >= size && newest) {
      std::optional<std::string> named;
      std::string body;
      if (whole_damaged_record(seg->fd, off, size, whole, named, body) == ReadResult::io_error)
        return core::Error::temp("spool: read error in " + seg->path + ": " + std::strerror(errno));
      if (whole) {
        // Complete but failing its check: not a partial write, so possibly an acknowledged
        // COMMIT. Damage, not a torn tail: the message it names is quarantined, never dropped.
        if (!p.suspect) p.suspect = named;
        if (p.suspect) st.note_damaged_commit(*p.suspect, body);
        next = off + whole;
      }
    }
    if (next >= size && newest && !whole) {
      const uint64_t torn = size - off;
      if (!opt_.read_only) {
        if (ops_->ftruncate(seg->fd, static_cast<off_t>(off)) != 0)
          return core::Error::temp("spool: cannot cut torn tail of " + seg->path + ": " +
                                   std::strerror(errno));
        spdlog::warn("spool: discarded {} bytes of torn tail in {}", torn, seg->path);
      }
      stats_.torn_bytes_discarded += torn;
      size = off;
      break;
    }
    st.bad.push_back({seg->seq, off});
    if (p.suspect) st.suspects.insert(*p.suspect);
    spdlog::error("spool: damaged record in {} at offset {} ({} bytes skipped{}{})", seg->path, off,
                  next - off, p.suspect ? ", names message " : "",
                  p.suspect ? *p.suspect : std::string());
    off = next;
  }
  seg->size = size;
  return core::ok();
}

bool Core::quarantine(const std::string& id, const std::string& reason,
                      const std::optional<QueuedMessage>& msg, const std::vector<Extent>& data) {
  std::error_code ec;
  fs::path qdir = fs::path(dir_) / "quarantine";
  fs::create_directories(qdir, ec);
  if (ec) return false;
  uint64_t recovered = 0;
  bool ok = write_file_durably(
      qdir / (id + ".eml"),
      [&](int fd) {
        std::string buf;
        for (const Extent& e : data) {
          auto s = segments_.find(e.seg);
          if (s == segments_.end()) continue;
          buf.resize(e.len);
          if (!pread_full(s->second->fd, buf.data(), e.len, e.off)) return false;
          if (!write_all(fd, buf)) return false;
          recovered += e.len;
        }
        return true;
      },
      opt_.sync);
  if (!ok) return false;
  nlohmann::json j = {{"id", id},
                      {"reason", reason},
                      {"envelope", msg ? nlohmann::json(*msg) : nlohmann::json(nullptr)},
                      {"recovered_bytes", recovered},
                      {"recovered_records", data.size()},
                      {"quarantined_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()}};
  std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  ok = write_file_durably(
      qdir / (id + ".json"), [&](int fd) { return write_all(fd, text); }, opt_.sync);
  if (!ok) return false;
  if (opt_.sync) {
    int dfd = ::open(qdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  return true;
}

core::Result<void> Core::recover() {
  std::error_code ec;
  if (opt_.read_only) {
    if (!fs::is_directory(spool_dir_, ec)) return core::ok();  // nothing spooled yet
  } else {
    fs::create_directories(spool_dir_, ec);
    if (ec) return core::Error::temp("spool: cannot create " + spool_dir_ + ": " + ec.message());
  }
  dir_fd_ = ::open(spool_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0)
    return core::Error::temp("spool: cannot open " + spool_dir_ + ": " + std::strerror(errno));

  std::vector<std::pair<uint64_t, std::string>> files;
  for (const auto& de : fs::directory_iterator(spool_dir_, ec)) {
    std::string name = de.path().filename().string();
    if (name.size() != 24 || name.compare(0, 4, "seg-") != 0 || name.compare(20, 4, ".log") != 0)
      continue;
    std::string hex = name.substr(4, 16);
    if (hex.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    files.emplace_back(std::stoull(hex, nullptr, 16), de.path().string());
  }
  if (ec) return core::Error::temp("spool: cannot list " + spool_dir_ + ": " + ec.message());
  std::sort(files.begin(), files.end());

  std::lock_guard lk(mu_);
  std::vector<SegmentPtr> segs;
  for (size_t i = 0; i < files.size(); ++i) {
    int fd = ::open(files[i].second.c_str(), (opt_.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && opt_.read_only) continue;  // reclaimed by the running server
      return core::Error::temp("spool: cannot open " + files[i].second + ": " +
                               std::strerror(errno));
    }
    auto seg = std::make_shared<Segment>();
    seg->seq = files[i].first;
    seg->path = files[i].second;
    seg->fd = fd;
    struct stat sb;
    if (::fstat(fd, &sb) != 0) return core::Error::temp("spool: cannot stat " + seg->path);
    seg->size = static_cast<uint64_t>(sb.st_size);
    segments_[seg->seq] = seg;
    segs.push_back(std::move(seg));
    next_seq_ = files[i].first + 1;
  }
  if (!opt_.read_only && !segments_.empty()) active_ = segments_.rbegin()->second;

  struct Verdict {
    std::string id;
    std::string reason;
  };
  std::vector<Verdict> quarantine_list;
  // One verdict per message the scan saw: live (into live_), dead (tombstones), dropped, or
  // to be quarantined.
  auto judge = [&](ScanState& st) {
    for (auto& [id, m] : st.msgs) {
      if (m.dead) {
        std::vector<uint64_t> others;
        for (uint64_t s : m.segs)
          if (s != m.dead_seg) others.push_back(s);
        if (!others.empty()) segments_[m.dead_seg]->tombs.push_back(std::move(others));
        continue;
      }
      std::string why;
      if (m.committed) {
        if (!m.problem.empty())
          why = m.problem;
        else if (st.suspects.count(id))
          why = "a damaged record names this message";
        else if (!m.content_ok)
          why = "content does not match its commit record";
      } else {
        // (a copy, not the structured binding: clang 14, used for the fuzz build, cannot
        // capture one)
        const Pos first = m.first;
        bool damage_after =
            std::any_of(st.bad.begin(), st.bad.end(), [first](const Pos& b) { return b > first; });
        if (st.suspects.count(id))
          why = "a damaged record names this uncommitted message";
        else if (damage_after)
          why = "damage follows its content; its commit record may be lost";
        else
          continue;  // never committed: a receipt interrupted by a crash
      }
      if (!why.empty()) {
        quarantine_list.push_back({id, why});
        continue;
      }
      LiveMessage lm = std::move(m.live);
      lm.data = m.data;  // a fresh copy: the scan's heap is given back whole after it
      lm.order = m.order;
      for (uint64_t s : m.segs) ref_locked(lm.segs, s);
      next_order_ = std::max(next_order_, lm.order + 1);
      auto [it, fresh] = live_.insert_or_assign(id, std::move(lm));
      order_[it->second.order] = &*it;
    }
  };

  ScanState st;
  bool from_ckpt = false;
  if (opt_.checkpoint) {
    std::pair<uint64_t, uint64_t> pos;
    std::vector<std::string> must_die;
    if (load_checkpoint_locked(st, pos, must_die)) {
      st.order = next_order_ - 1;
      st.adopt = [this](const std::string& id, ScanState::Msg& m) {
        auto it = live_.find(id);
        if (it == live_.end()) return;
        LiveMessage& lm = it->second;
        m.committed = m.content_ok = m.have_env = true;
        m.order = lm.order;
        m.first = {lm.commit.seg, lm.commit.off};
        m.segs = lm.segs;
        m.data = std::move(lm.data);
        unref_all_locked(lm.segs);
        lm.segs.clear();
        order_.erase(lm.order);
        m.live = std::move(lm);
        live_.erase(it);
      };
      for (size_t i = 0; i < segs.size(); ++i) {
        if (segs[i]->seq < pos.first) continue;
        const uint64_t from = segs[i]->seq == pos.first ? pos.second : 0;
        if (auto r = scan_segment(segs[i], i + 1 == segs.size(), st, from); !r) return r;
      }
      // A damaged record after the position that names a message the checkpoint has as
      // live, with no readable record of it after the position: judged like the rest, so it
      // is quarantined as a full scan would.
      for (const auto& id : st.suspects)
        if (!st.msgs.count(id) && live_.count(id)) {
          auto [it, fresh] = st.msgs.try_emplace(id);
          st.adopt(it->first, it->second);
        }
      st.adopt = nullptr;
      judge(st);
      std::set<std::string> quarantined;
      for (const auto& q : quarantine_list) quarantined.insert(q.id);
      std::string lost;
      for (const auto& id : must_die)
        if (live_.count(id) || quarantined.count(id)) lost = id;
      if (lost.empty()) {
        from_ckpt = true;
        stats_.from_checkpoint = true;
        spdlog::info("spool: index checkpoint read; {} bytes of log scanned after it",
                     stats_.bytes_scanned);
      } else {
        spdlog::warn(
            "spool: index checkpoint not used (message {} lost a segment and the log after "
            "it does not finish it): scanning the whole log",
            lost);
        reset_index_locked();
        st = ScanState{};
        quarantine_list.clear();
      }
    }
  }
  if (!from_ckpt) {
    // A message takes at least ~1 KiB of records: size the tables once instead of rehashing
    // a million entries several times.
    uint64_t bytes = 0;
    for (const auto& seg : segs) bytes += seg->size;
    st.msgs.reserve(static_cast<size_t>(std::min<uint64_t>(bytes / 1024, 50'000'000)));
    stats_.bytes_scanned = 0;
    for (size_t i = 0; i < segs.size(); ++i)
      if (auto r = scan_segment(segs[i], i + 1 == segs.size(), st); !r) return r;
    live_.reserve(st.msgs.size());
    judge(st);
    ckpt_soon_ = true;  // the next open need not do this again
  } else if (stats_.bytes_scanned >= opt_.checkpoint_min_bytes) {
    ckpt_soon_ = true;
  }
  // That checkpoint comes one interval after the open, not at once: encoding a million
  // entries holds the spool's lock and a core for seconds, which the server's start (the
  // delivery engine reading this index) needs first.
  ckpt_time_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();

  bool buried = false;
  for (const auto& q : quarantine_list) {
    ScanState::Msg& m = st.msgs[q.id];
    ++stats_.quarantined;
    if (opt_.read_only) {
      spdlog::error("spool: message {} is damaged ({}); not listed (read-only)", q.id, q.reason);
      continue;
    }
    std::optional<QueuedMessage> env;
    if (m.have_env) {  // read back for the report (the scan kept only its position)
      auto seg = segments_.find(m.live.commit.seg);
      if (seg != segments_.end())
        if (auto payload = read_extent(seg->second->fd, m.live.commit))
          if (auto info = decode_commit(payload.value())) env = std::move(info.value().msg);
      if (env && m.live.has_state) {
        auto sseg = segments_.find(m.live.state.seg);
        if (sseg != segments_.end())
          if (auto st = read_extent(sseg->second->fd, m.live.state))
            (void)apply_state(st.value(), *env);
      }
    }
    std::string reason = q.reason;
    if (!env && st.damaged_envelopes.count(q.id)) {
      env = st.damaged_envelopes[q.id];
      reason += " (envelope read from its damaged commit record)";
    }
    if (!quarantine(q.id, reason, env, m.data)) {
      spdlog::error("spool: message {} is damaged ({}) and could not be quarantined: {}", q.id,
                    q.reason, std::strerror(errno));
      continue;
    }
    spdlog::error("spool: message {} quarantined to {}/quarantine/{}.eml: {}", q.id, dir_, q.id,
                  q.reason);
    if (bury_locked(record::Type::done, q.id, m.segs))
      buried = true;
    else
      spdlog::error("spool: cannot mark quarantined message {} done", q.id);
  }
  if (buried) {
    SyncSet s = take_sync_set_locked();
    if (int err = do_sync(s)) return io_error("spool sync", err);
  }
  reclaim_locked();
  { ScanState gone = std::move(st); }
  // The scan's bookkeeping (a few hundred bytes per record) is gone: give it back now rather
  // than carry it as RSS for the life of the process.
  ::malloc_trim(0);
  return core::ok();
}

}  // namespace tern::queue::detail
