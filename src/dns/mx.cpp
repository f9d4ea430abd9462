// MX selection: see mx.hpp for the rules and the status codes chosen.
#include "dns/mx.hpp"

#include <algorithm>
#include <map>

#include "dns/ip.hpp"
#include "dns/names.hpp"

namespace tern::dns {

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  // Largest multiple of n that fits: values at or above it would favour small results.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = next_u64();
  while (v >= limit);
  return v % n;
}

uint64_t SplitMixRng::next_u64() {
  uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {

using core::DeliveryOutcome;

DeliveryOutcome fail(DeliveryOutcome::Kind k, const char* enhanced, std::string text) {
  return DeliveryOutcome::local(k, enhanced, std::move(text), core::Phase::dns);
}

// RFC 5321 §2.3.5: a host name is letters, digits and hyphens; '_' is tolerated because
// real zones have it. Anything else (the resolver's \DDD escapes of odd bytes, spaces) cannot
// name a mail host.
bool hostname_chars(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool loopback(const std::string& addr) {
  auto ip = IpAddr::parse(addr);
  if (!ip) return false;
  if (!ip->v6)
    return ip->bytes[0] == 127 || (ip->bytes[0] | ip->bytes[1] | ip->bytes[2] | ip->bytes[3]) == 0;
  for (int i = 0; i < 15; ++i)
    if (ip->bytes[i] != 0) return false;
  return ip->bytes[15] <= 1;  // :: or ::1
}

struct Lookup {
  std::vector<std::string> addrs;
  bool temp = false;
  std::string error;
};

// A then AAAA for one host name; an IP literal stands for itself.
Lookup addresses_of(Resolver& r, const std::string& host, size_t max_addrs) {
  Lookup out;
  if (auto ip = IpAddr::parse(host)) {
    out.addrs.push_back(ip->to_string());
    return out;
  }
  for (RType t : {RType::A, RType::AAAA}) {
    Answer a = r.query(host, t);
    if (a.status == Answer::Status::temp_error) {
      out.temp = true;
      if (out.error.empty()) out.error = a.error.empty() ? "temporary DNS failure" : a.error;
      continue;
    }
    for (const std::string& s : a.addrs) {
      if (out.addrs.size() >= max_addrs) break;
      if (std::find(out.addrs.begin(), out.addrs.end(), s) == out.addrs.end())
        out.addrs.push_back(s);
    }
  }
  return out;
}

}  // namespace

MxPlan plan_mx(Resolver& resolver, const std::string& domain, Rng& rng, const MxOptions& options) {
  MxPlan plan;
  plan.domain = normalize_name(domain);
  const std::string& d = plan.domain;
  if (!valid_name(d) || !hostname_chars(d)) {
    plan.error = fail(DeliveryOutcome::perm, "5.1.2", "bad destination domain \"" + d + "\"");
    return plan;
  }

  Answer mx = resolver.query(d, RType::MX);
  std::vector<MxHost> candidates;
  switch (mx.status) {
    case Answer::Status::temp_error:
      plan.error =
          fail(DeliveryOutcome::temp, "4.4.3",
               "DNS failure looking up MX for " + d + (mx.error.empty() ? "" : ": " + mx.error));
      return plan;
    case Answer::Status::nxdomain:
      plan.error = fail(DeliveryOutcome::perm, "5.1.2", "domain " + d + " does not exist");
      return plan;
    case Answer::Status::nodata:
      plan.implicit = true;
      candidates.push_back({d, 0, {}});
      break;
    case Answer::Status::ok: {
      bool any_real =
          std::any_of(mx.mx.begin(), mx.mx.end(), [](const Mx& m) { return !m.host.empty(); });
      if (!any_real) {
        plan.error = fail(DeliveryOutcome::perm, "5.1.10",
                          "domain " + d + " does not accept mail (null MX, RFC 7505)");
        return plan;
      }
      // One entry per host, at its lowest preference; "." entries dropped (see header).
      std::map<std::string, uint16_t> best;
      for (const Mx& m : mx.mx) {
        if (m.host.empty()) continue;
        auto [it, fresh] = best.emplace(m.host, m.preference);
        if (!fresh && m.preference < it->second) it->second = m.preference;
      }
      for (const auto& [host, pref] : best) candidates.push_back({host, pref, {}});
      std::stable_sort(candidates.begin(), candidates.end(), [](const MxHost& a, const MxHost& b) {
        return a.preference < b.preference;
      });
      // Fisher–Yates within each run of equal preference.
      for (size_t lo = 0; lo < candidates.size();) {
        size_t hi = lo;
        while (hi < candidates.size() && candidates[hi].preference == candidates[lo].preference)
          ++hi;
        for (size_t i = hi - lo; i > 1; --i)
          std::swap(candidates[lo + i - 1], candidates[lo + rng.below(i)]);
        lo = hi;
      }
      if (candidates.size() > options.max_hosts) {
        for (size_t i = options.max_hosts; i < candidates.size(); ++i)
          plan.skipped.push_back(candidates[i].host + ": beyond the first " +
                                 std::to_string(options.max_hosts) + " MX hosts");
        candidates.resize(options.max_hosts);
      }
      break;
    }
  }

  bool any_temp = false, any_loop = false;
  std::string first_temp;
  for (MxHost& c : candidates) {
    if (!IpAddr::parse(c.host) && (!valid_name(c.host) || !hostname_chars(c.host))) {
      plan.skipped.push_back(c.host + ": not a host name");
      continue;
    }
    Lookup l = addresses_of(resolver, c.host, std::max<size_t>(options.max_addrs_per_host, 1));
    if (l.temp) {
      any_temp = true;
      if (first_temp.empty()) first_temp = c.host + ": " + l.error;
    }
    if (options.reject_loopback && !l.addrs.empty()) {
      size_t before = l.addrs.size();
      l.addrs.erase(std::remove_if(l.addrs.begin(), l.addrs.end(), loopback), l.addrs.end());
      if (l.addrs.empty() && before > 0) {
        any_loop = true;
        plan.skipped.push_back(c.host + ": loopback address only");
        continue;
      }
    }
    if (l.addrs.empty()) {
      plan.skipped.push_back(c.host + (l.temp ? ": " + l.error : std::string(": no address")));
      continue;
    }
    c.addrs = std::move(l.addrs);
    plan.hosts.push_back(std::move(c));
  }
  if (!plan.hosts.empty()) return plan;

  if (any_temp) {
    plan.error = fail(DeliveryOutcome::temp, "4.4.3",
                      "DNS failure resolving mail hosts of " + d + " (" + first_temp + ")");
  } else if (any_loop) {
    plan.error = fail(DeliveryOutcome::perm, "5.4.6",
                      "mail for " + d + " loops back to this host (loopback MX address)");
  } else if (plan.implicit) {
    plan.error =
        fail(DeliveryOutcome::perm, "5.4.4", "domain " + d + " has no MX and no A/AAAA records");
  } else {
    plan.error = fail(DeliveryOutcome::temp, "4.4.4", "no MX host of " + d + " has an address");
  }
  plan.hosts.clear();
  return plan;
}

}  // namespace tern::dns
