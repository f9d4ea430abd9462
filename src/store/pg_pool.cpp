#include "store/pg_pool.hpp"

#include <random>

namespace tern::store::pg {

core::Result<std::unique_ptr<Pool>> Pool::open(const std::string& url, Options o) {
  if (o.size == 0) o.size = 1;
  auto c = Conn::connect(url);
  if (!c) return c.error();
  std::unique_ptr<Pool> p(new Pool(url, o));
  p->idle_.push_back(std::move(*c));
  return p;
}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(std::move(c_));
}

core::Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lk(mu_);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.acquire_timeout_ms);
  if (!cv_.wait_until(lk, deadline, [&] { return !idle_.empty() || out_ < opt_.size; }))
    return core::Error::unavailable("store: all PostgreSQL connections are busy");
  ++out_;
  if (!idle_.empty()) {
    Conn c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }
  lk.unlock();
  auto c = Conn::connect(url_);
  if (!c) {
    lk.lock();
    --out_;
    cv_.notify_one();
    return c.error();
  }
  return Lease(this, std::move(*c));
}

void Pool::release(Conn c) {
  std::lock_guard lk(mu_);
  --out_;
  // A connection that is broken, or left inside a transaction or a pipeline, is not reused.
  if (!c.broken() && PQtransactionStatus(c.get()) == PQTRANS_IDLE) idle_.push_back(std::move(c));
  cv_.notify_one();
}

size_t Pool::idle() const {
  std::lock_guard lk(mu_);
  return idle_.size();
}

void Pool::drop_idle() {
  std::vector<Conn> gone;
  std::lock_guard lk(mu_);
  gone.swap(idle_);
}

void Pool::pause(int attempt) const {
  // 10, 20, 40, 80, ... ms (at most 1 s) with jitter, so clients that collided do not again.
  thread_local std::minstd_rand rng(std::random_device{}());
  const int base = std::min(1000, 10 << std::min(attempt, 7));
  std::uniform_int_distribution<int> d(base / 2, base);
  std::this_thread::sleep_for(std::chrono::milliseconds(d(rng)));
}

}  // namespace tern::store::pg
