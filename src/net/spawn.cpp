#include "net/spawn.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace tern::net {

void LogExceptions::operator()(std::exception_ptr e) const noexcept {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{}: {}", what, ex.what());
  } catch (...) {
    spdlog::error("{}: unknown exception", what);
  }
}

void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> a,
           const char* what) {
  boost::asio::co_spawn(ex, std::move(a), LogExceptions{what});
}

void spawn(boost::asio::io_context& ctx, boost::asio::awaitable<void> a, const char* what) {
  boost::asio::co_spawn(ctx, std::move(a), LogExceptions{what});
}

}  // namespace tern::net
