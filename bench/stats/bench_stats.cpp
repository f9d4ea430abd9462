// bench_stats: what the statistics counters (issue 13) cost where they are kept and where they
// are read.
//   BM_RecordEvents/<trigger 0|1>/<batch>  EventLog::record batches (the delivery engine's
//       hot path) on a database with and without the stats_hourly trigger; the difference is
//       the counters' cost per event (items_per_second). The file lives in $BENCH_DIR (default
//       /dev/shm, so fsync does not hide the CPU cost; on a disk the fsync per batch dominates).
//   BM_StatsDay/<events>  Stats::hourly for one account over 24 hours after <events> events
//       were recorded over 30 days: constant, whatever the size of the log.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/backend.hpp"
#include "store/stats.hpp"
#include "store/store.hpp"

namespace {

using tern::store::DeliveryEvent;
using tern::store::open_backend;
using tern::store::Stats;
namespace core = tern::core;

constexpr int64_t kT0 = 1'795'348'800'000;

struct TempDb {
  std::string dir, path;
  TempDb() {
    const char* base = getenv("BENCH_DIR");
    std::string tmpl = std::string(base ? base : "/dev/shm") + "/tern-bench-stats-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    dir = tmpl;
    path = dir + "/tern.db";
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
};

std::vector<DeliveryEvent> batch(size_t n, int64_t t, int64_t accounts) {
  std::vector<DeliveryEvent> out(n);
  for (size_t i = 0; i < n; ++i) {
    auto& e = out[i];
    e.time_ms = t + static_cast<int64_t>(i);
    e.queue_id = "0KHX3V2QJ8M4ZC9T1A5B";
    e.account_id = 1 + static_cast<int64_t>(i) % accounts;
    e.recipient = "someone" + std::to_string(i) + "@example.com";
    e.event = i % 5 == 0 ? core::EventKind::deferred : core::EventKind::delivered;
    e.attempt = 1;
    e.code = 250;
    e.enhanced = "2.0.0";
    e.reply = "Ok: queued as 4F3A2B";
    e.mx_host = "mx1.example.com";
    e.phase = core::Phase::data_end;
  }
  return out;
}

void BM_RecordEvents(benchmark::State& state) {
  const bool trigger = state.range(0) != 0;
  const size_t n = static_cast<size_t>(state.range(1));
  TempDb db;
  auto store = open_backend("sqlite:" + db.path);
  if (!store) return state.SkipWithError(store.error().message.c_str());
  if (!trigger) {
    sqlite3* raw = nullptr;
    sqlite3_open(db.path.c_str(), &raw);
    sqlite3_exec(raw, "DROP TRIGGER stats_hourly_count", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
  }
  int64_t t = kT0;
  for (auto _ : state) {
    auto b = batch(n, t, 20);
    t += 60'000;
    if (auto r = store->store->events.record(b); !r)
      return state.SkipWithError(r.error().message.c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_RecordEvents)->ArgsProduct({{0, 1}, {100, 2000}})->Unit(benchmark::kMicrosecond);

void BM_StatsDay(benchmark::State& state) {
  const int64_t events = state.range(0);
  TempDb db;
  auto store = open_backend("sqlite:" + db.path);
  if (!store) return state.SkipWithError(store.error().message.c_str());
  const int64_t span = 30LL * 24 * 3'600'000;
  for (int64_t done = 0; done < events; done += 2000) {
    auto b = batch(2000, kT0 + span * done / events, 20);
    if (auto r = store->store->events.record(b); !r)
      return state.SkipWithError(r.error().message.c_str());
  }
  auto stats = Stats::open(db.path);
  if (!stats) return state.SkipWithError(stats.error().message.c_str());
  for (auto _ : state) {
    auto rows = stats.value()->hourly(3, kT0 + span - 24 * 3'600'000, kT0 + span);
    benchmark::DoNotOptimize(rows);
  }
}
BENCHMARK(BM_StatsDay)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
