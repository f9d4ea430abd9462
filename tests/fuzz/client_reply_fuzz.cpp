// Feeds arbitrary server bytes to a ClientSession with a fake driver that hands in three
// messages (content with leading dots, bare LF, no final CRLF), answers StartTls and streams
// content in small pieces. The first input byte picks the configuration (TLS policy,
// credentials, implicit TLS, handshake result); 0x01 splits feeds, a feed starting with 0x02
// is a timeout, 0x03 the server closing. Checks the contract: nothing after Close; every
// message handed in gets exactly one MessageResult with one outcome per recipient; at most
// one ConnectionFailed; AUTH never on the wire before TLS unless the policy is none; the wire
// has only CRLF line ends; the session always ends closed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "smtp/client_session.hpp"

using namespace tern::smtp;
using namespace tern::smtp::client;

// Says which check failed before trapping, so a crash reproducer explains itself.
#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond); \
      __builtin_trap();                                                       \
    }                                                                         \
  } while (0)

namespace {

struct Fake {
  ClientSession& s;
  Config cfg;
  bool tls_ok;
  std::vector<OutgoingMessage> msgs;
  std::string content;
  size_t handed = 0, results = 0, failures = 0, content_pos = 0;
  bool closed = false, tls = false, in_message = false;
  std::string wire;

  void check_outcome(const Outcome& o) {
    CHECK(!(o.code < 200 || o.code > 599));
    CHECK(!(o.remote && (o.code < 400) != (o.severity == tern::core::Severity::ok)));
  }

  void handle(std::vector<Action> acts) {
    for (auto& a : acts) {
      CHECK(!(closed));
      if (auto* snd = std::get_if<Send>(&a)) {
        CHECK(!(snd->bytes.empty()));
        CHECK(!(snd->bytes.rfind("AUTH", 0) == 0 && !s.tls_active() && cfg.tls != TlsPolicy::none));
        wire += snd->bytes;
      } else if (std::get_if<StartTls>(&a)) {
        tls = true;
      } else if (std::get_if<NeedMessage>(&a)) {
        CHECK(!(in_message));
        if (handed < msgs.size()) {
          in_message = true;
          content_pos = 0;
          handle(s.on_message(msgs[handed++]));
        } else {
          handle(s.on_no_more_messages());
        }
      } else if (std::get_if<NeedContent>(&a)) {
        CHECK(!(!in_message));
        size_t n = std::min<size_t>(5, content.size() - content_pos);
        std::string piece = content.substr(content_pos, n);
        content_pos += n;
        handle(s.on_content(piece, content_pos == content.size()));
      } else if (auto* mr = std::get_if<MessageResult>(&a)) {
        CHECK(!(!in_message || mr->recipients.size() != msgs[handed - 1].recipients.size()));
        for (auto& o : mr->recipients) check_outcome(o);
        in_message = false;
        ++results;
      } else if (auto* cf = std::get_if<ConnectionFailed>(&a)) {
        CHECK(!(in_message || ++failures > 1));  // MessageResult comes first
        check_outcome(cf->outcome);
        CHECK(!(cf->outcome.severity == tern::core::Severity::ok));
      } else if (std::get_if<Close>(&a)) {
        closed = true;
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t sel = data[0];
  Config cfg;
  cfg.helo_name = "out.test";
  cfg.tls = static_cast<TlsPolicy>((sel & 3) % 3);
  if (sel & 4) {
    cfg.username = "u";
    cfg.password = "p";
  }
  cfg.implicit_tls = sel & 8;
  cfg.auth_failure_temporary = sel & 16;
  cfg.max_reply_line = 256;
  cfg.max_reply_lines = 10;
  ClientSession s(cfg);
  Fake f{s,     cfg,   (sel & 32) != 0, {}, ".\r\n..x\nbody\r.\rend", 0, 0, 0, 0,
         false, false, false,           {}};
  OutgoingMessage m1;
  m1.sender = "a@example.com";
  m1.recipients = {"b@x.org", "c@x.org", "d@y.org"};
  m1.size = 30;
  m1.eightbit = true;
  OutgoingMessage m2 = m1;
  m2.recipients = {"e@x.org"};
  m2.smtputf8 = true;
  OutgoingMessage m3 = m1;
  m3.sender = "";
  f.msgs = {m1, m2, m3};

  f.handle(s.on_connected());
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!in.empty() && !f.closed) {
    size_t cut = in.find('\x01');
    std::string_view chunk = in.substr(0, cut);
    in = cut == std::string_view::npos ? std::string_view() : in.substr(cut + 1);
    if (!chunk.empty() && chunk[0] == '\x02')
      f.handle(s.on_timeout());
    else if (!chunk.empty() && chunk[0] == '\x03')
      f.handle(s.on_closed());
    else
      f.handle(s.feed(chunk));
    if (f.tls && !f.closed) {
      f.tls = false;
      f.handle(s.on_tls(f.tls_ok));
    }
  }
  if (!f.closed) f.handle(s.on_timeout());
  CHECK(!(!f.closed || !s.closed() || f.in_message || f.results != f.handed));
  for (size_t i = 0; i < f.wire.size(); ++i) {
    CHECK(!(f.wire[i] == '\n' && (i == 0 || f.wire[i - 1] != '\r')));
    CHECK(!(f.wire[i] == '\r' && (i + 1 >= f.wire.size() || f.wire[i + 1] != '\n')));
  }
  return 0;
}
