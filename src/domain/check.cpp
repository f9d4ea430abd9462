#include "domain/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/address.hpp"
#include "dns/spf.hpp"

namespace tern::domain {

namespace {

using dns::Answer;
using dns::RType;

std::string lower(std::string s) { return core::to_lower(s); }

std::string strip_dot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return lower(std::move(s));
}

bool starts_with_tag(const std::string& txt, std::string_view version) {
  // "v=spf1" followed by a space or the end (RFC 7208 §4.5); DMARC "v=DMARC1" then ';' or space.
  if (txt.size() < version.size()) return false;
  if (lower(txt.substr(0, version.size())) != lower(std::string(version))) return false;
  return txt.size() == version.size() || txt[version.size()] == ' ' || txt[version.size()] == ';' ||
         txt[version.size()] == '\t';
}

std::string join(const std::vector<std::string>& v, std::string_view sep = " | ") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string quoted(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back("\"" + s + "\"");
  return join(q);
}

void set(Record& r, store::RecordStatus status, std::string found = {}) {
  r.status = status;
  r.found = std::move(found);
}

bool temp(const Answer& a, Record& r) {
  if (a.status != Answer::Status::temp_error) return false;
  set(r, store::RecordStatus::error,
      "DNS lookup failed: " + (a.error.empty() ? std::string("temporary error") : a.error));
  return true;
}

void check_ownership(dns::Resolver& res, Record& r) {
  Answer a = res.query(r.name, RType::TXT);
  if (temp(a, r)) return;
  if (!a.found()) return set(r, store::RecordStatus::missing);
  std::vector<std::string> ours;
  for (const auto& t : a.txt) {
    if (t == r.value) return set(r, store::RecordStatus::ok);
    if (t.starts_with(kOwnershipPrefix)) ours.push_back(t);
  }
  if (ours.empty())
    return set(r, store::RecordStatus::missing, a.txt.empty() ? "" : "other TXT: " + quoted(a.txt));
  set(r, store::RecordStatus::wrong, quoted(ours));
}

void check_spf(dns::Resolver& res, const std::string& domain, Record& r, const Platform& p,
               const PlatformAddresses& ips) {
  Answer a = res.query(domain, RType::TXT);
  if (temp(a, r)) return;
  std::vector<std::string> spf;
  for (const auto& t : a.txt)
    if (starts_with_tag(t, "v=spf1")) spf.push_back(t);
  if (spf.empty()) return set(r, store::RecordStatus::missing);
  if (spf.size() > 1)
    return set(r, store::RecordStatus::wrong,
               fmt::format("{} SPF records (only one is allowed): {}", spf.size(), quoted(spf)));
  if (ips.temp_error) return set(r, store::RecordStatus::error, ips.error);
  if (ips.ips.empty()) {
    // Nothing to evaluate with: the include term itself is what we asked for.
    const std::string want = "include:" + lower(p.spf_include);
    std::string rec = lower(spf.front());
    for (size_t pos = 0; (pos = rec.find(want, pos)) != std::string::npos; pos += want.size()) {
      const bool start_ok = pos == 0 || rec[pos - 1] == ' ' || rec[pos - 1] == '+';
      const size_t end = pos + want.size();
      if (start_ok && (end == rec.size() || rec[end] == ' '))
        return set(r, store::RecordStatus::ok);
    }
    return set(r, store::RecordStatus::wrong,
               "\"" + spf.front() + "\" does not include " + p.spf_include);
  }
  auto verdict = dns::evaluate_platform(res, domain, ips.ips);
  if (verdict.all_pass) return set(r, store::RecordStatus::ok);
  std::vector<std::string> why;
  bool any_temp = false;
  for (const auto& ir : verdict.results) {
    if (ir.result.outcome == dns::SpfOutcome::pass) continue;
    any_temp |= ir.result.outcome == dns::SpfOutcome::temperror;
    why.push_back(
        fmt::format("{}: {}{}", ir.ip, dns::to_string(ir.result.outcome),
                    ir.result.explanation.empty() ? "" : " (" + ir.result.explanation + ")"));
  }
  if (any_temp) return set(r, store::RecordStatus::error, join(why, "; "));
  set(r, store::RecordStatus::wrong, "\"" + spf.front() + "\": " + join(why, "; "));
}

// Does one of the TXT strings hold the key? ok / wrong with the reason.
void match_key(const std::vector<std::string>& txt, const std::string& expected, Record& r,
               const std::string& where) {
  const Tag want_p = dkim_tag(expected, "p");
  const Tag want_k = dkim_tag(expected, "k");
  std::vector<std::string> seen;
  for (const auto& t : txt) {
    Tag p = dkim_tag(t, "p");
    Tag k = dkim_tag(t, "k");
    const std::string alg = k.present ? lower(k.value) : "rsa";  // RFC 6376 §3.6.1: default rsa
    if (p.present && p.value == want_p.value && alg == lower(want_k.value))
      return set(r, store::RecordStatus::ok);
    if (p.present && p.value.empty())
      seen.push_back("revoked key (empty p=): \"" + t + "\"");
    else
      seen.push_back("\"" + t + "\"");
  }
  set(r, store::RecordStatus::wrong,
      where + (seen.empty() ? "no DKIM key" : "another key: " + join(seen)));
}

void check_dkim_direct(dns::Resolver& res, Record& r) {
  Answer a = res.query(r.name, RType::TXT);
  if (temp(a, r)) return;
  if (!a.found() || a.txt.empty()) {
    if (!a.cnames.empty())
      return set(r, store::RecordStatus::missing,
                 "CNAME to " + a.cnames.back() + " which has no TXT record");
    return set(r, store::RecordStatus::missing);
  }
  match_key(a.txt, r.key_txt, r, "");
}

void check_dkim_delegated(dns::Resolver& res, Record& r, const std::string& expected_txt) {
  Answer a = res.query(r.name, RType::TXT);
  if (temp(a, r)) return;
  std::vector<std::string> chain = a.cnames;
  if (chain.empty() && !a.found()) {
    // Some resolvers report an NXDOMAIN target without the CNAME that led there: ask for it.
    Answer c = res.query(r.name, RType::CNAME);
    if (temp(c, r)) return;
    chain = c.cnames;
    if (chain.empty() && c.found() && !c.canonical_name.empty() &&
        strip_dot(c.canonical_name) != strip_dot(r.name))
      chain.push_back(c.canonical_name);
    if (chain.empty()) return set(r, store::RecordStatus::missing);
  }
  if (chain.empty())
    return set(r, store::RecordStatus::wrong,
               "TXT instead of CNAME to " + r.value + ": " + quoted(a.txt));
  if (strip_dot(chain.front()) != strip_dot(r.value))
    return set(r, store::RecordStatus::wrong, "CNAME to " + strip_dot(chain.front()));
  if (!a.found() || a.txt.empty())
    return set(r, store::RecordStatus::wrong,
               "CNAME ok, but " + r.value + " has no TXT record (publish `tern dns zone`)");
  match_key(a.txt, expected_txt, r, "CNAME ok, but " + r.value + " holds ");
}

void check_dmarc(dns::Resolver& res, Record& r) {
  Answer a = res.query(r.name, RType::TXT);
  if (temp(a, r)) return;
  std::vector<std::string> dmarc;
  for (const auto& t : a.txt)
    if (starts_with_tag(t, "v=DMARC1")) dmarc.push_back(t);
  if (dmarc.empty())
    return set(r, store::RecordStatus::missing, a.txt.empty() ? "" : "other TXT: " + quoted(a.txt));
  if (dmarc.size() > 1)
    return set(r, store::RecordStatus::wrong,
               "several DMARC records (receivers ignore them all): " + quoted(dmarc));
  set(r, store::RecordStatus::ok);
}

// The addresses authorized by an SPF policy's own ip4/ip6 terms, following include: and
// redirect= (RFC 7208 §5.2, §6.1) up to the RFC's 10 look-ups.
void collect(dns::Resolver& res, const std::string& host, int& lookups, std::set<std::string>& seen,
             PlatformAddresses& out) {
  if (out.temp_error || ++lookups > 10 || !seen.insert(lower(host)).second) return;
  Answer a = res.query(host, RType::TXT);
  if (a.status == Answer::Status::temp_error) {
    out.temp_error = true;
    out.error = "SPF policy of " + host + " could not be read: " + a.error;
    return;
  }
  for (const auto& t : a.txt) {
    if (!starts_with_tag(t, "v=spf1")) continue;
    size_t i = 0;
    while (i < t.size()) {
      size_t j = t.find(' ', i);
      if (j == std::string::npos) j = t.size();
      std::string term = t.substr(i, j - i);
      i = j + 1;
      if (term.empty()) continue;
      if (term[0] == '+') term.erase(0, 1);
      const std::string lt = lower(term);
      auto addr = [&](size_t skip) {
        std::string ip = term.substr(skip);
        if (auto slash = ip.find('/'); slash != std::string::npos) ip.resize(slash);
        if (!ip.empty() && std::find(out.ips.begin(), out.ips.end(), ip) == out.ips.end())
          out.ips.push_back(ip);
      };
      if (lt.starts_with("ip4:") || lt.starts_with("ip6:"))
        addr(4);
      else if (lt.starts_with("include:"))
        collect(res, term.substr(8), lookups, seen, out);
      else if (lt.starts_with("redirect="))
        collect(res, term.substr(9), lookups, seen, out);
    }
    break;
  }
}

}  // namespace

Tag dkim_tag(const std::string& record, const std::string& name) {
  size_t i = 0;
  while (i <= record.size()) {
    size_t j = record.find(';', i);
    if (j == std::string::npos) j = record.size();
    std::string spec = record.substr(i, j - i);
    i = j + 1;
    auto eq = spec.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(
          std::remove_if(s.begin(), s.end(),
                         [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }),
          s.end());
      return s;
    };
    if (trim(spec.substr(0, eq)) == name) return {true, trim(spec.substr(eq + 1))};
  }
  return {};
}

PlatformAddresses platform_addresses(dns::Resolver& r, const Platform& p) {
  PlatformAddresses out;
  if (!p.sending_ips.empty()) {
    out.ips = p.sending_ips;
    return out;
  }
  if (p.spf_include.empty()) return out;
  int lookups = 0;
  std::set<std::string> seen;
  collect(r, p.spf_include, lookups, seen, out);
  return out;
}

std::vector<Record> check_records(dns::Resolver& res, const std::string& domain,
                                  std::vector<Record> expected, const Platform& p,
                                  const PlatformAddresses& ips) {
  for (auto& r : expected) {
    if (r.id == "ownership") {
      check_ownership(res, r);
    } else if (r.id == "spf") {
      check_spf(res, domain, r, p, ips);
    } else if (r.id == "dmarc") {
      check_dmarc(res, r);
    } else if (r.id.starts_with("dkim:")) {
      if (r.type == "CNAME") {
        check_dkim_delegated(res, r, r.key_txt);
      } else {
        check_dkim_direct(res, r);
      }
    }
  }
  return expected;
}

}  // namespace tern::domain
