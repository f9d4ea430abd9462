// The one way Tern starts a coroutine it does not wait for: net::spawn(executor, awaitable,
// "what"). Unlike co_spawn(..., asio::detached), an exception that ends the coroutine is never
// dropped: it is logged at error level with the label ("smtp accept loop: <what()>"), and the
// io_context goes on running the other coroutines.
// Invariants: the completion runs on the coroutine's executor; it never throws; the label is a
// string literal (kept as a pointer, so spawning costs no allocation and no temporary with a
// destructor appears in a coroutine's spawn expression: g++ 12, docs/architecture.md).
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <exception>

namespace boost::asio {
class io_context;
}

namespace tern::net {

// The completion handler spawn() uses (exposed for co_spawn calls whose coroutine returns a
// value and that want the same logging).
struct LogExceptions {
  const char* what;
  void operator()(std::exception_ptr e) const noexcept;
};

void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> a,
           const char* what);
void spawn(boost::asio::io_context& ctx, boost::asio::awaitable<void> a, const char* what);

}  // namespace tern::net
