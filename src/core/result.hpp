// Outcomes as values: Result<T> holds a T or an Error that says temporary or permanent.
// Exceptions are used only at start-up and at the top of coroutines.
#pragma once
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tern::core {

struct Error {
  bool temporary = false;  // retrying later may succeed (disk full, I/O error, timeout)
  std::string message;

  static Error temp(std::string m) { return {true, std::move(m)}; }
  static Error perm(std::string m) { return {false, std::move(m)}; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return e_;
  }

 private:
  Error e_;
  bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace tern::core
