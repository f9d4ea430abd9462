// Runs blocking work on a thread pool from a coroutine and resumes the coroutine on its own
// executor afterwards:   auto r = co_await offload(pool, [&] { return store.read(); });
//
// Why not `co_await asio::post(pool, use_awaitable)`: post() hands the completion to the
// handler's associated executor, which for use_awaitable is the coroutine's own, so the code
// after it would still run on the I/O thread (issue 10, item 1). Here the function itself is
// posted to the pool and only its result travels back.
// Invariants: fn runs exactly once, on a pool thread, never on the caller's thread; an exception
// it throws is rethrown in the coroutine; the coroutine resumes on its own executor.
#pragma once
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace tern::net {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(boost::asio::thread_pool& pool, F fn) {
  namespace asio = boost::asio;
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(
        [&pool, &fn](auto handler) {
          auto home = asio::get_associated_executor(handler);
          asio::post(pool, [fn = std::move(fn), h = std::move(handler), home]() mutable {
            std::exception_ptr err;
            try {
              fn();
            } catch (...) {
              err = std::current_exception();
            }
            asio::post(home, [h = std::move(h), err]() mutable { std::move(h)(err); });
          });
        },
        asio::use_awaitable);
  } else {
    std::optional<R> out =
        co_await asio::async_initiate<decltype(asio::use_awaitable),
                                      void(std::exception_ptr, std::optional<R>)>(
            [&pool, &fn](auto handler) {
              auto home = asio::get_associated_executor(handler);
              asio::post(pool, [fn = std::move(fn), h = std::move(handler), home]() mutable {
                std::exception_ptr err;
                std::optional<R> r;
                try {
                  r.emplace(fn());
                } catch (...) {
                  err = std::current_exception();
                }
                asio::post(home, [h = std::move(h), err, r = std::move(r)]() mutable {
                  std::move(h)(err, std::move(r));
                });
              });
            },
            asio::use_awaitable);
    co_return std::move(*out);
  }
}

}  // namespace tern::net
