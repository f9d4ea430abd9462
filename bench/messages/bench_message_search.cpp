// bench_message_search: the console's Messages page against a big message log (issue 13 budget:
// a search answers in at most 100 ms, median, API side, with 1,000,000 messages in the log).
// The log is filled once (MESSAGES, default 1,000,000 recipient rows: 20 accounts, 30 days,
// 50,000 recipient addresses, 1,000 bulk ids, every status) in $BENCH_DIR (default /dev/shm),
// then each benchmark is one GET /api/v1/messages?... through api::handle with an API key:
// authentication, the query, the JSON answer of a 50-row page. Repetitions report the median.
//   BM_Search/<filter>   0 none (newest page), 1 recipient, 2 status, 3 bulkId, 4 one day,
//                        5 recipient+status, 6 the second page (cursor) of a status search
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/api.hpp"
#include "core/clock.hpp"
#include "store/backend.hpp"
#include "store/message_log.hpp"
#include "store/store.hpp"

namespace {

using namespace tern;

constexpr int64_t kT0 = 1'795'348'800'000;  // 2026-11-22T12:00Z
constexpr int64_t kDay = 24LL * 3'600'000;
constexpr int kAccounts = 20;
constexpr int kRecipients = 50'000;
constexpr int kBulks = 1'000;
constexpr const char* kAdmin = "tern_admin_abcdefghijklmnopqrstuvwxyz234567";
using core::MessageStatus;
const MessageStatus kStatuses[] = {
    MessageStatus::delivered, MessageStatus::delivered, MessageStatus::delivered,
    MessageStatus::delivered, MessageStatus::accepted,  MessageStatus::deferred,
    MessageStatus::bounced,   MessageStatus::expired,   MessageStatus::rejected};

struct World {
  std::string dir;
  store::Backend backend;
  store::Store* store = nullptr;
  store::MessageLog* log = nullptr;
  core::FakeClock clock{kT0 + 31 * kDay};
  api::ApiServices svc;
  std::string key;  // an API key of account 1
  int64_t rows = 0;

  World() {
    const char* base = getenv("BENCH_DIR");
    std::string tmpl = std::string(base ? base : "/dev/shm") + "/tern-bench-messages-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    dir = tmpl;
    const std::string db = dir + "/tern.db";
    backend = std::move(store::open_backend("sqlite:" + db)).value();
    store = backend.store.get();
    log = backend.messages.get();
    std::vector<int64_t> ids;
    for (int a = 0; a < kAccounts; ++a)
      ids.push_back(store->accounts.create("acct" + std::to_string(a))->account.id);
    key = store->api_keys.create(ids[0]).value();
    const char* n = getenv("MESSAGES");
    rows = n ? std::atoll(n) : 1'000'000;
    const auto start = std::chrono::steady_clock::now();
    std::vector<store::MessageRecord> batch;
    for (int64_t i = 0; i < rows; ++i) {
      store::MessageRecord m;
      char qid[32];
      std::snprintf(qid, sizeof qid, "Q%019lld", static_cast<long long>(i));
      m.queue_id = qid;
      m.message_id = store::make_message_id(m.queue_id, 0);
      m.account_id = ids[static_cast<size_t>(i % kAccounts)];
      m.bulk_id = "bulk-" + std::to_string(i % kBulks);
      m.sender = "news@acct.test";
      m.recipient = "user" + std::to_string((i * 7919) % kRecipients) + "@example.com";
      m.header_from = "News <news@acct.test>";
      m.subject = "Your weekly news";
      m.status = kStatuses[i % 9];
      m.created_ms = kT0 + 30 * kDay * i / rows;
      m.updated_ms = m.created_ms;
      batch.push_back(std::move(m));
      if (batch.size() == 10'000 || i + 1 == rows) {
        if (auto r = log->record_accepted(batch); !r) throw std::runtime_error(r.error().message);
        batch.clear();
      }
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "filled %lld messages in %.1f s\n", static_cast<long long>(rows), s);
    svc.store = store;
    svc.messages = log;
    svc.clock = &clock;
    svc.admin_token = kAdmin;
    svc.public_url = "https://tern.test";
    svc.hostname = "mx.test";
  }
  ~World() { std::filesystem::remove_all(dir); }

  net::HttpResponse get(const std::string& target, const std::string& token) {
    net::HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.remote_ip = "127.0.0.1";
    r.headers.emplace_back("authorization", "Bearer " + token);
    return api::handle(svc, r);
  }
};

World& world() {
  static World w;
  return w;
}

// Account 1 has rows i = 0, 20, 40, ...: user0's rows are i ≡ 0 (mod 50000) → all account 1.
const char* const kQueries[] = {
    "/api/v1/messages",
    "/api/v1/messages?recipient=user0@example.com",
    "/api/v1/messages?status=bounced",
    "/api/v1/messages?bulkId=bulk-20",
    "/api/v1/messages?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z",
    "/api/v1/messages?recipient=user0@example.com&status=delivered",
};

void BM_Search(benchmark::State& state) {
  World& w = world();
  std::string target = kQueries[state.range(0) == 6 ? 2 : state.range(0)];
  if (state.range(0) == 6) {
    auto first = nlohmann::json::parse(w.get(target, w.key).body);
    target += "&cursor=" + first["nextCursor"].get<std::string>();
  }
  size_t items = 0;
  for (auto _ : state) {
    auto r = w.get(target, w.key);
    if (r.status != 200) return state.SkipWithError(("status " + std::to_string(r.status)).c_str());
    benchmark::DoNotOptimize(r.body);
    items = nlohmann::json::parse(r.body)["items"].size();
  }
  state.counters["items"] = static_cast<double>(items);
  state.counters["rows"] = static_cast<double>(w.rows);
}
BENCHMARK(BM_Search)
    ->DenseRange(0, 6)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
