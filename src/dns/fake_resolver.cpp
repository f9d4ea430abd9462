// The fake resolver of resolver.hpp: answers from zone text, the way a recursive resolver
// would answer from real zones, so code under test sees the same statuses.
//   - CNAMEs are followed within the data (at most 16 links; a loop is a temp_error, as a
//     real resolver answers SERVFAIL).
//   - A name with a SERVFAIL line answers temp_error for every type, also when reached through
//     a CNAME.
//   - A name that owns no record but has records below it (an empty non-terminal, e.g.
//     "_domainkey.example.com") answers nodata, not nxdomain (RFC 8020).
// Bad zone text throws std::invalid_argument: the fake is built by tests, where a typo should
// stop the test loudly rather than answer nxdomain.
#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>

#include "dns/ip.hpp"
#include "dns/names.hpp"
#include "dns/resolver.hpp"

namespace tern::dns {

namespace {

constexpr int kMaxChain = 16;

struct Node {
  bool servfail = false;
  std::string cname;
  std::vector<std::string> txt, a, aaaa;
  std::vector<Mx> mx;
};

// TXT data: one or more "quoted strings" (with \" \\ and \DDD escapes) or bare words.
std::string parse_txt(const std::string& data, const std::string& line) {
  std::string out;
  size_t i = 0;
  auto bad = [&](const char* why) {
    return std::invalid_argument(std::string("fake zone: ") + why + ": " + line);
  };
  while (i < data.size()) {
    if (data[i] == ' ' || data[i] == '\t') {
      ++i;
      continue;
    }
    if (data[i] != '"') {
      size_t end = data.find_first_of(" \t", i);
      if (end == std::string::npos) end = data.size();
      out += data.substr(i, end - i);
      i = end;
      continue;
    }
    ++i;
    bool closed = false;
    while (i < data.size()) {
      char c = data[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= data.size()) throw bad("escape at end");
      if (std::isdigit(static_cast<unsigned char>(data[i]))) {
        if (i + 3 > data.size()) throw bad("short \\DDD escape");
        int v = std::stoi(data.substr(i, 3));
        if (v > 255) throw bad("\\DDD escape above 255");
        out += char(v);
        i += 3;
      } else {
        out += data[i++];
      }
    }
    if (!closed) throw bad("unterminated string");
  }
  return out;
}

class FakeResolver final : public Resolver {
 public:
  explicit FakeResolver(const std::string& zone_text) {
    std::istringstream in(zone_text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::istringstream ls(line);
      std::string name, type;
      if (!(ls >> name) || name[0] == '#' || name[0] == ';') continue;
      if (!(ls >> type)) throw std::invalid_argument("fake zone: no type: " + line);
      std::string data;
      std::getline(ls, data);
      data.erase(0, data.find_first_not_of(" \t"));
      for (char& c : type) c = char(std::toupper(static_cast<unsigned char>(c)));
      Node& n = nodes_[normalize_name(name)];
      if (type == "SERVFAIL") {
        n.servfail = true;
      } else if (type == "CNAME") {
        if (!valid_name(data)) throw std::invalid_argument("fake zone: bad CNAME: " + line);
        n.cname = normalize_name(data);
      } else if (type == "TXT") {
        n.txt.push_back(parse_txt(data, line));
      } else if (type == "MX") {
        std::istringstream ds(data);
        unsigned pref = 0;
        std::string host;
        if (!(ds >> pref >> host) || pref > 65535)
          throw std::invalid_argument("fake zone: bad MX: " + line);
        n.mx.push_back({uint16_t(pref), host == "." ? std::string() : normalize_name(host)});
      } else if (type == "A" || type == "AAAA") {
        auto ip = IpAddr::parse(data);
        if (!ip || ip->v6 != (type == "AAAA"))
          throw std::invalid_argument("fake zone: bad address: " + line);
        (ip->v6 ? n.aaaa : n.a).push_back(ip->to_string());
      } else {
        throw std::invalid_argument("fake zone: unknown type " + type + ": " + line);
      }
    }
    for (auto& [name, n] : nodes_)
      std::stable_sort(n.mx.begin(), n.mx.end(), [](const Mx& x, const Mx& y) {
        return x.preference != y.preference ? x.preference < y.preference : x.host < y.host;
      });
  }

  Answer query(const std::string& name, RType type) override {
    Answer a;
    std::string current = normalize_name(name);
    for (int links = 0;; ++links) {
      const Node* n = find(current);
      if (n && n->servfail) {
        a = Answer{};
        a.error = "SERVFAIL for " + current;
        return a;  // temp_error
      }
      if (!n || n->cname.empty()) break;
      if (type == RType::CNAME) {
        a.cnames.push_back(n->cname);
        a.canonical_name = n->cname;
        a.status = Answer::Status::ok;
        return a;
      }
      if (links == kMaxChain ||
          std::find(a.cnames.begin(), a.cnames.end(), n->cname) != a.cnames.end()) {
        a = Answer{};
        a.error = "CNAME chain too long or looping at " + n->cname;
        return a;
      }
      a.cnames.push_back(n->cname);
      current = n->cname;
    }
    a.canonical_name = current;
    if (const Node* n = find(current)) {
      switch (type) {
        case RType::A:
          a.addrs = n->a;
          break;
        case RType::AAAA:
          a.addrs = n->aaaa;
          break;
        case RType::MX:
          a.mx = n->mx;
          break;
        case RType::TXT:
          a.txt = n->txt;
          break;
        case RType::CNAME:
          break;
      }
    }
    bool data = !a.txt.empty() || !a.mx.empty() || !a.addrs.empty();
    a.status = data ? Answer::Status::ok
                    : (exists(current) ? Answer::Status::nodata : Answer::Status::nxdomain);
    return a;
  }

 private:
  const Node* find(const std::string& name) const {
    auto it = nodes_.find(name);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  bool exists(const std::string& name) const {
    if (nodes_.count(name)) return true;
    std::string suffix = "." + name;
    return std::any_of(nodes_.begin(), nodes_.end(), [&](const auto& kv) {
      return kv.first.size() > suffix.size() &&
             kv.first.compare(kv.first.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
  }

  std::map<std::string, Node> nodes_;
};

}  // namespace

std::unique_ptr<Resolver> make_fake_resolver(const std::string& zone_text) {
  return std::make_unique<FakeResolver>(zone_text);
}

}  // namespace tern::dns
