// pg::Listener (store/pg_listener.hpp) against a real PostgreSQL 15: a NOTIFY on its channel
// wakes it, every (re)connect wakes it once, it connects again after the server drops its
// connection and hears the channel again, and stop() returns while it cannot connect at all;
// the change_log triggers announce on tern_change, the channel the nodes listen to.
#include "store/pg_listener.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/pg_backend.hpp"
#include "store/pg_db.hpp"
#include "unit/store/pg_test_server.hpp"

namespace tern::store::pg {
namespace {

using namespace std::chrono_literals;

class PgListenerTest : public ::testing::Test {
 protected:
  std::function<void()> counter() {
    return [this] {
      std::lock_guard lk(mu_);
      ++wakes_;
      cv_.notify_all();
    };
  }
  // The waits are bounds for a failure, never the proof: each wake-up is counted.
  bool wakes_reach(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, 30s, [&] { return wakes_ >= n; });
  }
  int wakes() {
    std::lock_guard lk(mu_);
    return wakes_;
  }
  void sql(const std::string& q) {
    auto c = Conn::connect(schema_.url());
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto r = c->exec(q, "test");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  test::PgSchema schema_;
  // Channels are per database: one of this test's own (the schema's random name).
  const std::string channel_ = "wake_" + schema_.name();
  std::mutex mu_;
  std::condition_variable cv_;
  int wakes_ = 0;
};

TEST_F(PgListenerTest, ANotifyWakesItAndAfterTheServerDropsItItListensAgain) {
  Listener l(schema_.url(), channel_, counter());
  l.start();
  ASSERT_TRUE(wakes_reach(1));  // connected and listening: one wake-up at once
  EXPECT_EQ(l.connects(), 1u);
  sql("SELECT pg_notify('" + channel_ + "', '')");
  ASSERT_TRUE(wakes_reach(2));
  sql("NOTIFY other_channel_" + schema_.name());  // another channel: not heard
  sql("SELECT pg_notify('" + channel_ + "', 'x')");
  ASSERT_TRUE(wakes_reach(3));
  EXPECT_EQ(wakes(), 3);

  // The server ends the listening connection: it connects again (a wake-up: changes may have
  // been announced meanwhile) and hears the channel on the new one.
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN \"" + channel_ +
      "\"'");
  ASSERT_TRUE(wakes_reach(4));
  EXPECT_EQ(l.connects(), 2u);
  sql("SELECT pg_notify('" + channel_ + "', '')");
  ASSERT_TRUE(wakes_reach(5));
  l.stop();
}

// What the nodes listen to in production: a change_log trigger (a write by anyone: a node, the
// CLI, psql) announces on tern_change from the writing session. Checked on a plain LISTEN
// connection by the sender's pid: other tests' schemas share the database and the channel.
TEST_F(PgListenerTest, AChangeLogTriggerAnnouncesOnTernChangeFromTheWriter) {
  auto parts = open_pg_backend(schema_.url(), PgOptions{.pool_size = 2, .node_id = "n1"});
  ASSERT_TRUE(parts.ok()) << parts.error().message;
  auto listener = Conn::connect(schema_.url());
  auto writer = Conn::connect(schema_.url());
  ASSERT_TRUE(listener.ok() && writer.ok());
  ASSERT_TRUE(listener->exec_script("LISTEN tern_change", "listen").ok());
  auto pid = writer->exec("SELECT pg_backend_pid()", "pid");
  ASSERT_TRUE(pid.ok());
  const int writer_pid = static_cast<int>(pid->int64(0, 0));
  ASSERT_TRUE(writer
                  ->exec("INSERT INTO accounts(name, code, created_ms) VALUES('acme', 'c-acme', 1)",
                         "write")
                  .ok());
  PGconn* pc = listener->get();
  bool heard = false;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!heard && std::chrono::steady_clock::now() < until) {
    pollfd p{PQsocket(pc), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    ASSERT_EQ(PQconsumeInput(pc), 1);
    while (PGnotify* n = PQnotifies(pc)) {
      heard = heard || n->be_pid == writer_pid;
      PQfreemem(n);
    }
  }
  EXPECT_TRUE(heard);
}

TEST_F(PgListenerTest, StopEndsItsWaitToTryAgain) {
  // Nothing listens on port 1: every attempt fails at once, and it waits to try again (1 s,
  // then 2 s). After the second failure it waits 2 s: stop() must end that wait, not sit it out.
  Listener l("postgres://tern@127.0.0.1:1/tern?connect_timeout=2", channel_, counter());
  l.start();
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (l.failed_attempts() < 2 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  ASSERT_GE(l.failed_attempts(), 2u);
  const auto t0 = std::chrono::steady_clock::now();
  l.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_EQ(l.connects(), 0u);
  EXPECT_EQ(wakes(), 0);
}

}  // namespace
}  // namespace tern::store::pg
