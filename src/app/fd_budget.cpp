#include "app/fd_budget.hpp"

#include <algorithm>

namespace tern::app {

core::Result<FdBudget> plan_fd_budget(uint64_t fd_limit, size_t smtp_max, size_t http_max,
                                      size_t outbound_max) {
  FdBudget b{smtp_max, http_max, ""};
  const uint64_t fixed = kFdReserve + outbound_max;
  if (fd_limit < fixed + 64)
    return core::Error::perm(
        "RLIMIT_NOFILE is " + std::to_string(fd_limit) + ": too few file descriptors (need at " +
        "least " + std::to_string(fixed + 64) + " for the spool, the database, " +
        std::to_string(outbound_max) + " delivery connections and a few clients)");
  const uint64_t avail = fd_limit - fixed;
  if (static_cast<uint64_t>(smtp_max) + http_max <= avail) return b;
  // HTTP gets at most a tenth of what is left (at least 16); SMTP the rest.
  b.http_max_connections = std::max<size_t>(16, std::min<uint64_t>(http_max, avail / 10));
  b.smtp_max_connections =
      std::min<uint64_t>(smtp_max, std::max<uint64_t>(16, avail - b.http_max_connections));
  b.warning = "RLIMIT_NOFILE is " + std::to_string(fd_limit) + ": smtp.max_connections lowered " +
              "from " + std::to_string(smtp_max) + " to " + std::to_string(b.smtp_max_connections) +
              ", http.max_connections from " + std::to_string(http_max) + " to " +
              std::to_string(b.http_max_connections) +
              " (raise the limit, e.g. LimitNOFILE= in the service unit, to keep them)";
  return b;
}

}  // namespace tern::app
