// Helpers shared by the spool tests: temp dirs, synchronous commit, fault-injecting FileOps.
#pragma once
#include <gtest/gtest.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "core/ids.hpp"
#include "queue/file_ops.hpp"
#include "queue/spool.hpp"

namespace tern::queue::test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("tern-spool-test-" + core::random_hex(8));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

inline QueuedMessage make_msg(const std::string& id) {
  QueuedMessage m;
  m.id = id;
  m.account_id = 7;
  m.account_name = "acme";
  m.sender = "s@acme.example";
  m.recipients = {{"a@x.example", RcptState::pending, 0, 0, ""},
                  {"b@y.example", RcptState::pending, 0, 0, ""}};
  m.received_ms = 1700000000000;
  m.client_ip = "192.0.2.1";
  m.helo = "h.acme.example";
  m.message_id = "<" + id + "@acme.example>";
  m.header_from = "s@acme.example";
  m.options_json = R"({"k":"v"})";
  return m;
}

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

inline CommitOutcome commit_sync(Spool& s, std::unique_ptr<Spool::Writer> w, QueuedMessage m) {
  std::promise<CommitOutcome> p;
  auto f = p.get_future();
  s.commit(std::move(w), std::move(m), [&p](CommitOutcome o) { p.set_value(std::move(o)); });
  return f.get();
}

// Writes content in pieces of `piece` bytes and commits; returns the id (asserts success).
inline std::string put(Spool& s, const std::string& content, size_t piece = 1000) {
  std::string id = core::new_queue_id();
  auto w = s.begin(id);
  for (size_t i = 0; i < content.size(); i += piece) {
    auto r = w->append(std::string_view(content).substr(i, piece));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  }
  auto out = commit_sync(s, std::move(w), make_msg(id));
  EXPECT_TRUE(out.ok) << out.error;
  return id;
}

inline std::string content_of(const Spool& s, const std::string& id) {
  std::string out;
  auto r = s.read_content(id, [&](std::string_view b) { out.append(b); });
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return out;
}

inline std::vector<std::string> ids(const Spool& s) {
  std::vector<std::string> v;
  for (const auto& m : s.list()) v.push_back(m.id);
  return v;
}

inline std::vector<fs::path> segment_files(const fs::path& dir) {
  std::vector<fs::path> v;
  if (!fs::exists(dir / "spool")) return v;
  for (const auto& e : fs::directory_iterator(dir / "spool")) v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Every file under dir with its bytes, for "nothing changed" checks.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    m[e.path().string()] = e.is_regular_file() ? read_file(e.path()) : std::string("<dir>");
  return m;
}

inline std::unique_ptr<Spool> open_ok(const std::string& dir, SpoolOptions opt = {},
                                      std::shared_ptr<FileOps> ops = nullptr) {
  auto r = open_spool(dir, opt, std::move(ops));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

// Injects write and sync failures. write_budget >= 0 lets that many bytes through first
// (a short write) before failing with write_errno.
class FaultyOps : public FileOps {
 public:
  std::atomic<int> write_errno{0};
  std::atomic<long> write_budget{-1};
  std::atomic<int> sync_errno{0};
  std::atomic<int> sync_failures_left{0};
  std::atomic<int64_t> free_space{-1};  // >= 0: what free_bytes reports (a nearly full disk)

  ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) override {
    int e = write_errno.load();
    if (e) {
      long b = write_budget.exchange(0);
      if (b > 0) {
        struct iovec one = iov[0];
        one.iov_len = std::min<size_t>(one.iov_len, static_cast<size_t>(b));
        return FileOps::pwritev(fd, &one, 1, off);
      }
      errno = e;
      return -1;
    }
    return FileOps::pwritev(fd, iov, n, off);
  }
  int fdatasync(int fd) override {
    if (sync_failures_left.load() > 0) {
      --sync_failures_left;
      errno = sync_errno.load();
      return -1;
    }
    return FileOps::fdatasync(fd);
  }
  int64_t free_bytes(int fd) override {
    const int64_t f = free_space.load();
    return f >= 0 ? f : FileOps::free_bytes(fd);
  }
};

inline uint64_t segment_bytes(const fs::path& dir) {
  uint64_t n = 0;
  for (const auto& p : segment_files(dir)) n += fs::file_size(p);
  return n;
}

// Polls (bounded) until pred holds; false if it never did within the time.
template <class Pred>
bool eventually(Pred pred, int timeout_ms = 10000) {
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace tern::queue::test
