// The production resolver: libunbound, blocking ub_resolve.
//
// Threads: libunbound documents that several threads may call ub_resolve on the same context
// at once ("Application threaded. Blocking": the calling thread does the work, the cache is
// shared), so one context serves every caller. The context is fully configured before the
// first query (libunbound finalises its configuration then and refuses later changes).
//
// Answers are read from the response message itself (wire.hpp) rather than from ub_result's
// rdata list, because only the message carries the CNAME chain in order.
#include <arpa/inet.h>
#include <unbound.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "dns/names.hpp"
#include "dns/resolver.hpp"
#include "dns/wire.hpp"

namespace tern::dns {

namespace {

// "IP", "IP:PORT", "[IPv6]:PORT" → "IP@PORT" as ub_ctx_set_fwd wants it; empty on bad input.
std::string forwarder(const std::string& server) {
  std::string host = server, port;
  if (!server.empty() && server.front() == '[') {
    auto close = server.find(']');
    if (close == std::string::npos) return {};
    host = server.substr(1, close - 1);
    if (close + 1 < server.size()) {
      if (server[close + 1] != ':') return {};
      port = server.substr(close + 2);
    }
  } else if (std::count(server.begin(), server.end(), ':') == 1) {
    auto colon = server.find(':');
    host = server.substr(0, colon);
    port = server.substr(colon + 1);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1)
    return {};
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return {};
    unsigned long n = std::stoul(port);
    if (n == 0 || n > 65535) return {};
    return host + "@" + port;
  }
  return host;
}

class UnboundResolver final : public Resolver {
 public:
  explicit UnboundResolver(const std::string& server) : ctx_(ub_ctx_create()) {
    if (!ctx_) throw std::runtime_error("libunbound: cannot create a context");
    try {
      // A resolver on 127.0.0.1 (tests, a local caching resolver, systemd-resolved's
      // 127.0.0.53 in resolv.conf) is refused by default.
      check(ub_ctx_set_option(ctx_, "do-not-query-localhost:", "no"), "do-not-query-localhost");
      // libunbound answers names under "test." (RFC 6761 §6.2) NXDOMAIN by itself, as a
      // built-in local zone. We always forward to a resolver, and that resolver decides what
      // exists: test setups (and the integration tests) serve .test zones through it.
      // "transparent" with no local data passes every query on; "nodefault", the usual way,
      // is accepted by ub_ctx_set_option but has no effect in libunbound 1.17 (tried).
      check(ub_ctx_set_option(ctx_, "local-zone:", "test. transparent"), "local-zone test.");
      if (server.empty()) {
        check(ub_ctx_resolvconf(ctx_, nullptr), "reading /etc/resolv.conf");
        check(ub_ctx_hosts(ctx_, nullptr), "reading /etc/hosts");
      } else {
        std::string fwd = forwarder(server);
        if (fwd.empty())
          throw std::runtime_error("dns resolver \"" + server + "\" is not IP or IP:PORT");
        check(ub_ctx_set_fwd(ctx_, fwd.c_str()), "forwarder " + fwd);
      }
    } catch (...) {
      ub_ctx_delete(ctx_);
      throw;
    }
  }
  ~UnboundResolver() override { ub_ctx_delete(ctx_); }
  UnboundResolver(const UnboundResolver&) = delete;
  UnboundResolver& operator=(const UnboundResolver&) = delete;

  Answer query(const std::string& name, RType type) override {
    Answer a;
    std::string qname = normalize_name(name);
    if (!valid_name(qname)) {
      // Nothing to ask: such a name cannot exist in the DNS.
      a.status = Answer::Status::nxdomain;
      a.canonical_name = qname;
      return a;
    }
    ub_result* res = nullptr;
    int err = ub_resolve(ctx_, qname.c_str(), int(type), 1 /* IN */, &res);
    if (err != 0) {
      a.error = std::string("libunbound: ") + ub_strerror(err);
      if (res) ub_resolve_free(res);
      return a;  // temp_error
    }
    if (!res->answer_packet || res->answer_len <= 0) {
      // libunbound gives no message when it could not get an answer at all (timeouts).
      a.error = "no answer (rcode " + std::to_string(res->rcode) + ")";
      ub_resolve_free(res);
      return a;
    }
    a = parse_response(static_cast<const uint8_t*>(res->answer_packet), size_t(res->answer_len),
                       qname, type);
    ub_resolve_free(res);
    return a;
  }

 private:
  static void check(int err, const std::string& what) {
    if (err != 0) throw std::runtime_error("libunbound: " + what + ": " + ub_strerror(err));
  }
  ub_ctx* ctx_;
};

}  // namespace

std::unique_ptr<Resolver> make_unbound_resolver(const std::string& server) {
  return std::make_unique<UnboundResolver>(server);
}

}  // namespace tern::dns
