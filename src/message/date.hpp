// RFC 5322 §3.3 date-time in UTC, e.g. "Tue, 14 Nov 2023 22:13:20 +0000", for the Date and
// Received headers. Pure: the caller supplies the time (sessions keep no clock).
#pragma once
#include <cstdint>
#include <string>

namespace tern::message {

std::string rfc5322_date(int64_t unix_seconds);

}  // namespace tern::message
