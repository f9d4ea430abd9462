// Feeds arbitrary bytes to a ServerSession with a fake driver that answers every action
// (auth ok for user/pass, commits ok, TLS ok). Checks the contract: replies are complete CRLF
// lines, nothing follows Close, and committed content has only CRLF line endings.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "smtp/server_session.hpp"

using namespace tern::smtp;

namespace {
struct Fake {
  ServerSession& s;
  bool closed = false, tls = false;
  std::string content;
  void handle(std::vector<Action> acts) {
    for (auto& a : acts) {
      if (closed) __builtin_trap();  // no action after Close
      if (auto* r = std::get_if<SendReply>(&a)) {
        if (r->bytes.size() < 2 || r->bytes.substr(r->bytes.size() - 2) != "\r\n") __builtin_trap();
      } else if (std::get_if<StartTls>(&a)) {
        tls = true;
      } else if (auto* au = std::get_if<Authenticate>(&a)) {
        AuthResult res;
        if (au->username == "user" && au->password == "pass") {
          res.kind = AuthResult::Kind::ok;
          auto ctx = std::make_shared<tern::policy::AccountContext>();
          ctx->domains = {"example.com"};
          res.account = ctx;
        }
        handle(s.on_auth(res));
      } else if (std::get_if<BeginMessage>(&a)) {
        content.clear();
      } else if (auto* md = std::get_if<MessageData>(&a)) {
        content += md->bytes;
      } else if (auto* cm = std::get_if<CommitMessage>(&a)) {
        if (cm->envelope.content_size != content.size()) __builtin_trap();
        for (size_t i = 0; i < content.size(); ++i) {
          if (content[i] == '\0') __builtin_trap();
          if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r')) __builtin_trap();
          if (content[i] == '\r' && (i + 1 >= content.size() || content[i + 1] != '\n'))
            __builtin_trap();
        }
        handle(s.on_commit({true, cm->envelope.queue_id, tern::core::ErrorCode::unavailable, ""}));
      } else if (std::get_if<Close>(&a)) {
        closed = true;
      }
    }
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SessionConfig cfg;
  cfg.allow_plaintext_auth = true;
  cfg.max_command_line = 128;
  cfg.max_message_size = 2048;
  cfg.max_header_bytes = 512;
  cfg.max_recipients = 5;
  ConnectionInfo conn;
  conn.remote_ip = "192.0.2.1";
  ServerSession s(cfg, conn, 1700000000);
  Fake f{s, false, false, {}};
  f.handle(s.start());
  // Bytes 0x01 split the input into separate feeds, so the fuzzer explores read boundaries.
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty() && !f.closed) {
    size_t cut = in.find('\x01');
    std::string_view chunk = in.substr(0, cut);
    in = cut == std::string_view::npos ? std::string_view() : in.substr(cut + 1);
    f.handle(s.feed(chunk));
    if (f.tls) {
      f.tls = false;
      f.handle(s.on_tls(true));
    }
  }
  if (!f.closed) f.handle(s.on_timeout());
  return 0;
}
