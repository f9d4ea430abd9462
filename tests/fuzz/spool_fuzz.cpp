// Fuzzes spool recovery (src/queue/spool_recovery.cpp with record.cpp and envelope.cpp): the
// segment files are written from the input, then Spool::open replays them. A disk returns
// whatever it returns after a crash or a bad sector, so recovery must take any bytes.
// Input: a list of operations, each [op][arguments]:
//   op % 8 == 0: raw bytes (len u8, bytes) appended to the current segment (garbage, torn or
//                forged records);
//   1..5:        a well-formed record of that type (DATA, COMMIT, STATE, DONE, ABORT) whose
//                tag the harness computes: id selector u8, payload (len u16 LE, bytes);
//   6:           a consistent COMMIT for an id: envelope JSON from the input (len u16, bytes)
//                wrapped with the content hash, record count and size of the DATA records the
//                harness wrote for that id, so recovery's checks pass and the envelope
//                decoding is what is exercised;
//   7:           start the next segment file (at most 4).
// The first byte's low bit opens the spool read-only (the CLI's offline view).
// Invariants:
//  - never a crash, a hang or UB; open() either fails with an error or succeeds;
//  - every listed message has a valid id, appears once, and its stored bytes read back in full
//    (prepend + content_size bytes);
//  - recovery is idempotent: opening the result again lists the same messages, quarantines
//    nothing more and cuts no more torn bytes (not checked read-only, which writes nothing);
//  - when not read-only, every quarantined message has its .json report.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"
#include "queue/record.hpp"
#include "queue/spool.hpp"

namespace fs = std::filesystem;
namespace record = tern::queue::record;

namespace {

const char* const kIds[] = {"q1", "q2", "q3", "Q4-x_y", "bad id", "q1/../x"};

fs::path base_dir() {
  static const fs::path dir = [] {
    const char* shm = "/dev/shm";
    fs::path root = fs::is_directory(shm) ? fs::path(shm) : fs::temp_directory_path();
    return root / ("tern-spool-fuzz-" + std::to_string(::getpid()));
  }();
  return dir;
}

struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  std::string_view bytes(size_t len) {
    len = std::min(len, n);
    std::string_view s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return s;
  }
};

struct Content {
  record::ContentHash hash;
  uint64_t records = 0;
  uint64_t size = 0;
};

void append_record(std::string& seg, record::Type t, std::string_view id,
                   std::string_view payload) {
  auto h = record::encode_header(t, id, payload);
  seg.append(reinterpret_cast<const char*>(h.data()), h.size());
  seg.append(id);
  seg.append(payload);
}

struct Listing {
  std::map<std::string, uint64_t> sizes;  // id -> content size
  tern::queue::Spool::Stats stats;
  bool ok = false;
};

Listing open_and_check(const fs::path& dir, bool read_only) {
  Listing out;
  tern::queue::SpoolOptions opt;
  opt.sync = false;
  opt.reserve_bytes = 0;
  opt.read_only = read_only;
  auto sp = tern::queue::Spool::open(dir.string(), opt);
  if (!sp.ok()) return out;
  out.ok = true;
  for (const auto& m : (*sp)->list()) {
    if (!record::valid_id(m.id)) std::abort();
    if (!out.sizes.emplace(m.id, m.content_size).second) std::abort();  // listed twice
    uint64_t got = 0;
    auto r = (*sp)->read_content(m.id, [&](std::string_view piece) { got += piece.size(); });
    if (!r.ok() || got != m.prepend.size() + m.content_size) std::abort();
    auto g = (*sp)->get(m.id);
    if (!g || g->id != m.id) std::abort();
  }
  out.stats = (*sp)->stats();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Recovery logs every damaged record; SPOOL_FUZZ_LOG=1 keeps the log (replaying a finding).
  if (!std::getenv("SPOOL_FUZZ_LOG")) spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Input in{data, size};
  const bool read_only = in.u8() & 1;
  std::vector<std::string> segs(1);
  std::map<std::string, Content> content;
  while (in.n) {
    const uint8_t op = in.u8() % 8;
    if (op == 0) {
      segs.back().append(in.bytes(in.u8()));
    } else if (op <= 5) {
      const std::string id = kIds[in.u8() % std::size(kIds)];
      const std::string_view payload = in.bytes(in.u16() % 2048);
      append_record(segs.back(), static_cast<record::Type>(op), id, payload);
      if (op == 1) {
        Content& c = content[id];
        c.hash.update(payload);
        c.records++;
        c.size += payload.size();
      }
    } else if (op == 6) {
      const std::string id = kIds[in.u8() % std::size(kIds)];
      auto env = nlohmann::json::parse(in.bytes(in.u16() % 2048), nullptr, false);
      Content& c = content[id];
      if (env.is_object()) {
        env["id"] = id;
        env["size"] = env.value("prepend", std::string()).size() + c.size;
      }
      nlohmann::json j = {
          {"envelope", env}, {"content_blake2b", c.hash.hex_final()}, {"data_records", c.records}};
      content.erase(id);  // the hash state is final now
      append_record(segs.back(), record::Type::commit, id,
                    j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else if (segs.size() < 4) {
      segs.emplace_back();
    }
  }

  const fs::path dir = base_dir();
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "spool");
  for (size_t i = 0; i < segs.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "seg-%016zx.log", i + 1);
    std::ofstream(dir / "spool" / name, std::ios::binary) << segs[i];
  }

  const Listing first = open_and_check(dir, read_only);
  if (first.ok && !read_only) {
    size_t reports = 0;
    for (const auto& e : fs::directory_iterator(dir / "quarantine", ec))
      if (e.path().extension() == ".json") ++reports;
    if (reports != first.stats.quarantined) std::abort();
    const Listing again = open_and_check(dir, false);
    if (!again.ok || again.sizes != first.sizes) std::abort();
    if (again.stats.quarantined != 0 || again.stats.torn_bytes_discarded != 0) std::abort();
  }
  fs::remove_all(dir, ec);
  return 0;
}
