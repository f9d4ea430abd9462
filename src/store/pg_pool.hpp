// A node's pool of PostgreSQL connections (about 8) and the retry rules around them.
// Store calls stay blocking: a thread takes a connection, runs its statements, gives it back.
//
// Invariants:
//  - At most `size` connections exist; acquire() waits (up to acquire_timeout_ms) when all are
//    out, then fails with unavailable. A broken connection is never handed out again: it is
//    dropped when returned and a new one is opened on demand.
//  - transact() runs fn inside BEGIN ... COMMIT and retries the whole transaction, on a fresh
//    connection when needed, after a serialization failure (40001), a deadlock (40P01) or a lost
//    connection or a vanished prepared statement (26000, pg_db.hpp), at most `retries` times with a
//    growing pause. A connection lost while COMMIT was in flight leaves the outcome unknown: that
//    is retried only when the caller says the transaction is idempotent (its writes carry
//    idempotency keys), else returned (unavailable).
//  - fn may run several times: it must not have effects outside the transaction.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/result.hpp"
#include "store/pg_db.hpp"

namespace tern::store::pg {

// How Pool::transact runs one transaction. At namespace scope, not nested in Pool: clang 14
// refuses a nested struct with default member initializers as a default argument of a member
// of the enclosing class (the ASan/TSan builds use clang).
struct PoolTxnOptions {
  Txn::Isolation isolation = Txn::Isolation::read_committed;
  bool idempotent = false;  // safe to re-run after an unknown COMMIT outcome
};

class Pool {
 public:
  struct Options {
    size_t size = 8;
    int acquire_timeout_ms = 10'000;
    int retries = 4;
  };
  using TxnOptions = PoolTxnOptions;

  // Connects once (a wrong URL or an unreachable server fails here, not at first use).
  static core::Result<std::unique_ptr<Pool>> open(const std::string& url, Options o);
  static core::Result<std::unique_ptr<Pool>> open(const std::string& url) {
    return open(url, Options{});
  }
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection on loan; returned to the pool (or dropped when broken) by the destructor.
  class Lease {
   public:
    Lease(Pool* p, Conn c) : pool_(p), c_(std::move(c)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), c_(std::move(o.c_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Conn& conn() { return c_; }
    Conn* operator->() { return &c_; }

   private:
    Pool* pool_;
    Conn c_;
  };
  core::Result<Lease> acquire();

  template <class F>
  auto transact(F&& fn, TxnOptions o = {}) -> std::invoke_result_t<F&, Conn&>;
  // fn on a pooled connection without a transaction of ours (autocommit, or one fn manages);
  // retried like transact when `idempotent` (reads).
  template <class F>
  auto with(F&& fn, bool idempotent = true) -> std::invoke_result_t<F&, Conn&>;

  const std::string& url() const { return url_; }
  size_t size() const { return opt_.size; }
  size_t idle() const;
  // Closes every idle connection (tests; after a failover all of them are stale anyway).
  void drop_idle();

 private:
  Pool(std::string url, Options o) : url_(std::move(url)), opt_(o) {}
  void release(Conn c);
  void pause(int attempt) const;
  static bool retryable(Failure f, bool ambiguous, bool idempotent) {
    return f == Failure::serialization || f == Failure::deadlock || f == Failure::statement_gone ||
           (f == Failure::connection && (!ambiguous || idempotent));
  }

  std::string url_;
  Options opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Conn> idle_;
  size_t out_ = 0;  // leased or being opened
};

template <class F>
auto Pool::transact(F&& fn, TxnOptions o) -> std::invoke_result_t<F&, Conn&> {
  using R = std::invoke_result_t<F&, Conn&>;
  for (int attempt = 0;; ++attempt) {
    auto lease = acquire();
    if (!lease) {
      if (attempt < opt_.retries) {
        pause(attempt);
        continue;
      }
      return R(lease.error());
    }
    Conn& c = lease->conn();
    std::optional<core::Error> err;
    bool ambiguous = false;
    {
      Txn txn(c);
      if (auto b = txn.begin(o.isolation); !b) {
        err = b.error();
      } else {
        R r = fn(c);
        if (!r) {
          err = r.error();
        } else {
          auto cm = txn.commit();
          if (cm) return r;
          err = cm.error();
          ambiguous = txn.commit_sent() && c.failure() == Failure::connection;
        }
      }
    }
    if (!retryable(c.failure(), ambiguous, o.idempotent) || attempt >= opt_.retries) return R(*err);
    pause(attempt);
  }
}

template <class F>
auto Pool::with(F&& fn, bool idempotent) -> std::invoke_result_t<F&, Conn&> {
  using R = std::invoke_result_t<F&, Conn&>;
  for (int attempt = 0;; ++attempt) {
    auto lease = acquire();
    if (!lease) {
      if (attempt < opt_.retries) {
        pause(attempt);
        continue;
      }
      return R(lease.error());
    }
    Conn& c = lease->conn();
    R r = fn(c);
    if (r || !idempotent || !retryable(c.failure(), true, true) || attempt >= opt_.retries)
      return r;
    pause(attempt);
  }
}

}  // namespace tern::store::pg
