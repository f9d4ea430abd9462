// bench_store: the store's hot paths on SQLite (a file in /tmp, WAL, synchronous=FULL as in
// production), each call as the server makes it:
//   BM_ApiKeyAuth         SMTP AUTH as "App" with an API key (no cache: one look-up per AUTH)
//   BM_AccountContext     the submission path's account snapshot after AUTH
//   BM_IsSuppressed       one recipient's suppression look-up (delivery)
//   BM_RecordEvents/N     a batch of N delivery events (one transaction, one statement)
//   BM_SigningKeys        the DKIM key loader behind pipeline::KeyCache
// Built against the store contract (issue 11); with -DTERN_OLD_STORE_API the same calls go
// through the Store interface it replaced, so bench/store/run.sh can compare both in one run.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#ifdef TERN_OLD_STORE_API
#include "store/store.hpp"
#else
#include "store/backend.hpp"
#endif

namespace {

namespace store = tern::store;
#ifdef TERN_OLD_STORE_API
using Event = store::Store::DeliveryEvent;
#else
using Event = store::DeliveryEvent;
#endif

struct Fixture {
  std::string dir;
#ifdef TERN_OLD_STORE_API
  std::unique_ptr<store::Store> s;
  store::Store& st() { return *s; }
#else
  store::Backend b;
  store::Store& st() { return *b.store; }
#endif
  int64_t account = 0;
  std::string key;

  Fixture() {
    dir = std::filesystem::temp_directory_path() / ("tern-bench-store-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/tern.db";
#ifdef TERN_OLD_STORE_API
    s = std::move(store::Store::open_sqlite(path)).value();
    account = st().create_account("acme").value().account.id;
    key = st().create_api_key(account).value();
    (void)st().add_domain(account, "acme.example", true);
    for (int i = 0; i < 5; ++i)
      (void)st().add_sender(account, "s" + std::to_string(i) + "@x.test", true);
    (void)st().set_account_settings(
        account, {{"cc", "audit@acme.example"}, {"notify_url", "https://h.example/n"}});
    for (int i = 0; i < 200; ++i)
      (void)st().add_suppression({account, "gone" + std::to_string(i) + "@x.test", "r", "Q", 1});
#else
    b = std::move(store::open_backend("sqlite:" + path)).value();
    account = st().accounts.create("acme").value().account.id;
    key = st().api_keys.create(account).value();
    (void)st().domains.add(account, "acme.example", true);
    for (int i = 0; i < 5; ++i)
      (void)st().senders.add(account, "s" + std::to_string(i) + "@x.test", true);
    (void)st().settings.set(account,
                            {{"cc", "audit@acme.example"}, {"notify_url", "https://h.example/n"}});
    for (int i = 0; i < 200; ++i)
      (void)st().suppressions.add({account, "gone" + std::to_string(i) + "@x.test", "r", "Q", 1});
#endif
  }
  ~Fixture() {
#ifdef TERN_OLD_STORE_API
    s.reset();
#else
    b = {};
#endif
    std::filesystem::remove_all(dir);
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

void BM_ApiKeyAuth(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
#ifdef TERN_OLD_STORE_API
    auto r = f.st().verify_credentials("App", f.key);
#else
    auto r = f.st().credentials.verify("App", f.key);
#endif
    if (!r || !*r) state.SkipWithError("auth failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApiKeyAuth);

void BM_AccountContext(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
    auto r = f.st().account_context(f.account);
    if (!r) state.SkipWithError("context failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AccountContext);

void BM_IsSuppressed(benchmark::State& state) {
  auto& f = fx();
  int i = 0;
  for (auto _ : state) {
    const std::string a = "gone" + std::to_string(i++ % 400) + "@x.test";  // half listed
#ifdef TERN_OLD_STORE_API
    auto r = f.st().is_suppressed(f.account, a);
#else
    auto r = f.st().suppressions.contains(f.account, a);
#endif
    if (!r) state.SkipWithError("look-up failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IsSuppressed);

void BM_RecordEvents(benchmark::State& state) {
  auto& f = fx();
  std::vector<Event> batch(static_cast<size_t>(state.range(0)));
  int64_t t = 1'795'000'000'000;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& e = batch[i];
    e.queue_id = "Q" + std::to_string(i % 50);
    e.account_id = f.account;
    e.recipient = "r" + std::to_string(i) + "@example.com";
#ifdef TERN_OLD_STORE_API
    e.event = "delivered";
    e.phase = "data-end";
#else
    e.event = tern::core::EventKind::delivered;
    e.phase = tern::core::Phase::data_end;
#endif
    e.attempt = 1;
    e.code = 250;
    e.enhanced = "2.0.0";
    e.reply = "Ok: queued as ABCDEF0123";
    e.mx_host = "mx.example.com";
  }
  for (auto _ : state) {
    for (auto& e : batch) e.time_ms = ++t;
#ifdef TERN_OLD_STORE_API
    auto r = f.st().record_events(batch);
#else
    auto r = f.st().events.record(batch);
#endif
    if (!r) state.SkipWithError("record failed");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RecordEvents)->Arg(1)->Arg(100);

void BM_SigningKeys(benchmark::State& state) {
  auto& f = fx();
  for (auto _ : state) {
#ifdef TERN_OLD_STORE_API
    auto r = f.st().signing_keys(f.account, "acme.example");
#else
    auto r = f.st().domains.signing_keys(f.account, "acme.example");
#endif
    if (!r) state.SkipWithError("keys failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SigningKeys);

}  // namespace

BENCHMARK_MAIN();
