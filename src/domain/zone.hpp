// The platform's DKIM zone in BIND master-file format (RFC 1035 §5.1): one TXT per delegated
// key, "<selector>-<account code>._domainkey.<zone>.", for the operator's DNS server (seed 002:
// customers CNAME their selectors there). Pure.
// Invariants: every character-string is at most 255 octets (RFC 1035 §3.3.14); the strings
// concatenate to exactly the record value; '"' and '\' are escaped (keys never hold them, but
// the format must not be breakable).
#pragma once
#include <string>
#include <vector>

namespace tern::domain {

struct ZoneEntry {
  std::string name;   // absolute, no trailing dot
  std::string value;  // "v=DKIM1; k=rsa; p=..."
};

// The value as character-strings: the tags before p= first (readability), then p= in pieces
// of at most 255 octets.
std::vector<std::string> split_txt(const std::string& value);

// Master-file text: a comment header, then one line per entry:
//   name. IN TXT ( "v=DKIM1; k=rsa; " "p=MIIB..." )
std::string render_zone(const std::string& zone, const std::vector<ZoneEntry>& entries);

}  // namespace tern::domain
