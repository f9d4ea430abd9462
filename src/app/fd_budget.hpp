// How many connections the listeners may hold with the descriptors the process has
// (RLIMIT_NOFILE after raising the soft limit to the hard one; issue 10, item 10). Pure.
// Invariant: smtp + http + reserve + outbound never exceeds the limit, so a flood of clients
// runs into the connection caps (a 421 / 503 answer) and never into EMFILE, which would also
// starve the spool, SQLite and DNS of descriptors. Caps that do not fit are lowered, with a
// warning that says which and why; a limit too small to run at all is an error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace tern::app {

struct FdBudget {
  size_t smtp_max_connections = 0;
  size_t http_max_connections = 0;
  std::string warning;  // "" when the configured caps fit
};

// Descriptors kept apart from the listeners: spool segments, SQLite connections, the control
// socket, DNS sockets, TLS files, log files.
constexpr size_t kFdReserve = 256;

core::Result<FdBudget> plan_fd_budget(uint64_t fd_limit, size_t smtp_max, size_t http_max,
                                      size_t outbound_max);

}  // namespace tern::app
