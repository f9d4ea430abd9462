// Identifiers: queue ids (sortable by time, unique across restarts and nodes) and random
// tokens. Queue ids are 20 characters of [0-9A-Z]: 9 of milliseconds since epoch, 11 random.
#pragma once
#include <string>

namespace tern::core {

std::string new_queue_id();
// n random bytes as lower-case hex.
std::string random_hex(size_t n_bytes);

}  // namespace tern::core
