// Fuzzes the parsers of the report module, which see customer- and network-controlled text:
// webhook target URLs (report::parse_url), outbox items read back from the database
// (report::result_from_json) and signature headers (report::verify). Invariants:
//  - never a crash or UB (ASan/UBSan);
//  - an accepted URL has scheme http or https, a non-empty host, a port, a path starting with
//    '/', and no control character, space or byte >= 0x80 in host or path;
//  - an accepted item survives a round trip: result_to_json_item(result_from_json(x)) parses
//    again to the same item;
//  - verify() never accepts fuzz bytes as a signature.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "report/report.hpp"
#include "report/signature.hpp"
#include "report/target_policy.hpp"

namespace {

bool clean(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto u = tern::report::parse_url(in);
      if (u.ok()) {
        if (u->scheme != "http" && u->scheme != "https") std::abort();
        if (u->host.empty() || u->port == 0) std::abort();
        if (u->path.empty() || u->path[0] != '/') std::abort();
        if (!clean(u->host) || !clean(u->path)) std::abort();
      }
      break;
    }
    case 1: {
      auto r = tern::report::result_from_json(in);
      if (r.ok()) {
        const std::string item = tern::report::result_to_json_item(*r);
        auto again = tern::report::result_from_json(item);
        if (!again.ok()) std::abort();
        if (tern::report::result_to_json_item(*again) != item) std::abort();
      }
      break;
    }
    default: {
      if (tern::report::verify(in, "fuzz-secret-0123456789", "{\"results\":[]}", 1795341662, 300)
              .ok())
        std::abort();
      break;
    }
  }
  return 0;
}
