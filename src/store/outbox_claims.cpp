// The outbox's fencing tokens (outbox.hpp): shared by every backend.
#include <sodium.h>

#include "store/outbox.hpp"

namespace tern::store {

int64_t new_lease_token() {
  for (;;) {
    uint64_t v = 0;
    randombytes_buf(&v, sizeof v);
    const auto t = static_cast<int64_t>(v >> 1);  // 63 bits: positive in a signed column
    if (t != 0) return t;
  }
}

}  // namespace tern::store
