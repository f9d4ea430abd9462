// What a finished check changes (pure): record states, ownership verification, and the
// selector switch of a rotation (SPEC §3: "switches signing to it only after its record checks
// ok"). Results with status "error" (DNS failed for now) change nothing: the last definitive
// state stands, so a resolver outage never stops signing.
// Invariants: verified only goes false -> true here; the active slot changes only to the
// rotation's target slot, and only when every key there the domain signs with checked ok.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "domain/records.hpp"
#include "store/store.hpp"

namespace tern::domain {

struct Change {
  std::string what;  // "tern1", "spf", "ownership", "dmarc", "active selector", "verified"
  std::string from, to;
};

struct Transition {
  store::DomainCheckUpdate update;
  std::vector<Change> changes;
};

Transition apply_check(const store::DomainDetail& d, const std::vector<Record>& checked,
                       int64_t now_ms);

// The slot a rotation puts its new key on.
inline int idle_slot(int active_slot) { return active_slot == 1 ? 2 : 1; }

}  // namespace tern::domain
