// Secrets at rest (DKIM private keys, relay passwords, webhook secrets): sealed with the
// operator's master key when one is set (store/key_box.hpp), kept as given otherwise (the
// database file is 0600). Shared by the services that store secrets; thread-safe.
#pragma once
#include <mutex>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::store {

class Sealer {
 public:
  // 32 bytes, or "" for none: values stored from now on are sealed with it, and sealed values
  // can be read.
  void set_key(std::string key32);
  // Sealed when a key is set, else plain (an empty value stays empty).
  std::string seal(std::string_view plain) const;
  // Plain values as they are; a sealed one needs the key (internal error without it, corrupt
  // for a wrong key or altered bytes).
  core::Result<std::string> open(std::string_view stored) const;

 private:
  mutable std::mutex mu_;
  std::string key_;
};

}  // namespace tern::store
