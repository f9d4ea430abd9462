// Outcomes as values: Result<T> holds a T or an Error. An Error says what kind of failure it is
// (its code), whether retrying later may succeed (temporary), and a text for logs and operators.
// Exceptions are used only at start-up and at the top of coroutines.
//
// Invariants:
// - Callers branch on `code` (and, for the few refusals a client must tell apart, `reason`),
//   never on the text: the text is for people and may change.
// - The code is mapped to an answer once per protocol: HTTP statuses in api/errors.hpp, SMTP
//   replies in smtp/reply.hpp (smtp::reply_for). internal and corrupt texts never reach a
//   client (the HTTP mapping logs them with an id and answers a generic message).
// - temporary defaults from the code (unavailable and disk_full are temporary, the rest
//   permanent); Error::temp / Error::perm remain for errors that have no better code
//   (unavailable / invalid).
#pragma once
#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tern::core {

enum class ErrorCode : uint8_t {
  invalid,      // the request or input is malformed or breaks a rule (HTTP 400)
  not_found,    // the thing addressed does not exist (for this caller) (404)
  conflict,     // it exists already, or another holds it (409)
  forbidden,    // the caller may not do this (403)
  unavailable,  // a resource is busy or away: retry later (503, SMTP 451 4.3.0)
  disk_full,    // no space to store it: retry later (503, SMTP 452 4.3.1)
  corrupt,      // stored data is damaged (500; the text is logged, not shown)
  internal,     // a bug or an unexpected state (500; the text is logged, not shown)
};

// A refusal a client must be able to tell apart from other errors of the same code (it has
// its own HTTP error code in docs/api.md).
enum class ErrorReason : uint8_t {
  none,
  sender_not_authorized,  // the sender policy refused the envelope or header sender
  quota_exceeded,         // an account limit (unverified domains) is reached
};

constexpr std::string_view to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::invalid:
      return "invalid";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::conflict:
      return "conflict";
    case ErrorCode::forbidden:
      return "forbidden";
    case ErrorCode::unavailable:
      return "unavailable";
    case ErrorCode::disk_full:
      return "disk_full";
    case ErrorCode::corrupt:
      return "corrupt";
    case ErrorCode::internal:
      return "internal";
  }
  return "internal";
}

constexpr bool is_temporary(ErrorCode c) {
  return c == ErrorCode::unavailable || c == ErrorCode::disk_full;
}

struct Error {
  bool temporary = false;  // retrying later may succeed (disk full, I/O error, timeout)
  std::string message;
  ErrorCode code = ErrorCode::internal;
  ErrorReason reason = ErrorReason::none;

  static Error of(ErrorCode c, std::string m) { return {is_temporary(c), std::move(m), c}; }
  // Without a better code: temporary = unavailable, permanent = invalid.
  static Error temp(std::string m) { return of(ErrorCode::unavailable, std::move(m)); }
  static Error perm(std::string m) { return of(ErrorCode::invalid, std::move(m)); }
  static Error invalid(std::string m) { return of(ErrorCode::invalid, std::move(m)); }
  static Error not_found(std::string m) { return of(ErrorCode::not_found, std::move(m)); }
  static Error conflict(std::string m) { return of(ErrorCode::conflict, std::move(m)); }
  static Error forbidden(std::string m) { return of(ErrorCode::forbidden, std::move(m)); }
  static Error unavailable(std::string m) { return of(ErrorCode::unavailable, std::move(m)); }
  static Error disk_full(std::string m) { return of(ErrorCode::disk_full, std::move(m)); }
  static Error corrupt(std::string m) { return of(ErrorCode::corrupt, std::move(m)); }
  static Error internal(std::string m) { return of(ErrorCode::internal, std::move(m)); }

  Error because(ErrorReason r) && {
    reason = r;
    return std::move(*this);
  }
  bool is(ErrorCode c) const { return code == c; }
  // The same error with more context in front of its text ("outbox: " + message).
  Error context(std::string_view what) const {
    Error e = *this;
    e.message.insert(0, std::string(what) + ": ");
    return e;
  }
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
