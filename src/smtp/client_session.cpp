// ClientSession: a queue of awaited replies (so pipelined commands are matched in order) and
// the current message's per-recipient results. See client_session.hpp for the contract.
#include "smtp/client_session.hpp"

#include <deque>
#include <optional>

#include "core/address.hpp"
#include "core/base64.hpp"
#include "smtp/reply.hpp"

namespace tern::smtp {

using namespace client;

core::Phase client::core_phase(Phase p) {
  switch (p) {
    case Phase::connect:
      return core::Phase::connect;
    case Phase::greeting:
      return core::Phase::greeting;
    case Phase::ehlo:
      return core::Phase::ehlo;
    case Phase::starttls:
      return core::Phase::starttls;
    case Phase::auth:
      return core::Phase::auth;
    case Phase::mail:
      return core::Phase::mail;
    case Phase::rcpt:
      return core::Phase::rcpt;
    case Phase::data:
      return core::Phase::data;
    case Phase::dot:
      return core::Phase::data_end;
    case Phase::quit:
      return core::Phase::quit;
  }
  return core::Phase::none;
}

const char* client::phase_name(Phase p) {
  switch (p) {
    case Phase::connect:
      return "connect";
    case Phase::greeting:
      return "greeting";
    case Phase::ehlo:
      return "ehlo";
    case Phase::starttls:
      return "starttls";
    case Phase::auth:
      return "auth";
    case Phase::mail:
      return "mail";
    case Phase::rcpt:
      return "rcpt";
    case Phase::data:
      return "data";
    case Phase::dot:
      return "dot";
    case Phase::quit:
      return "quit";
  }
  return "?";
}

Capabilities client::parse_capabilities(const std::vector<std::string>& lines) {
  Capabilities c;
  c.esmtp = true;
  for (const auto& raw : lines) {
    std::string l = core::to_lower(raw);
    std::string_view kw = l, rest;
    if (size_t sp = l.find_first_of(" ="); sp != std::string::npos) {
      kw = std::string_view(l).substr(0, sp);
      rest = std::string_view(l).substr(sp + 1);
    }
    if (kw == "pipelining")
      c.pipelining = true;
    else if (kw == "8bitmime")
      c.eightbitmime = true;
    else if (kw == "smtputf8")
      c.smtputf8 = true;
    else if (kw == "starttls")
      c.starttls = true;
    else if (kw == "enhancedstatuscodes")
      c.enhanced_status = true;
    else if (kw == "size") {
      c.size_advertised = true;
      uint64_t v = 0;
      bool ok = !rest.empty() && rest.size() <= 19;
      for (char ch : rest) {
        if (ch < '0' || ch > '9') {
          ok = false;
          break;
        }
        v = v * 10 + static_cast<uint64_t>(ch - '0');
      }
      c.size = ok ? v : 0;
    } else if (kw == "auth") {
      size_t p = 0;
      while (p < rest.size()) {
        size_t e = rest.find(' ', p);
        if (e == std::string_view::npos) e = rest.size();
        std::string_view m = rest.substr(p, e - p);
        if (m == "plain") c.auth_plain = true;
        if (m == "login") c.auth_login = true;
        p = e + 1;
      }
    }
  }
  return c;
}

void ContentEncoder::encode(std::string_view in, std::string& out) {
  out.reserve(out.size() + in.size() + in.size() / 64 + 4);
  size_t i = 0;
  while (i < in.size()) {
    if (pending_cr_) {
      // A CR ends a line whether or not an LF follows (bare CR → CRLF).
      pending_cr_ = false;
      out += "\r\n";
      line_start_ = true;
      if (in[i] == '\n') {
        ++i;
        continue;
      }
    }
    char c = in[i];
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
      line_start_ = true;
      ++i;
      continue;
    }
    if (line_start_ && c == '.') out += '.';
    // Copy the rest of the line in one go.
    size_t e = in.find_first_of("\r\n", i);
    if (e == std::string_view::npos) e = in.size();
    out.append(in.data() + i, e - i);
    line_start_ = false;
    i = e;
  }
}

void ContentEncoder::finish(std::string& out) {
  if (pending_cr_ || !line_start_) out += "\r\n";
  pending_cr_ = false;
  line_start_ = true;
  out += ".\r\n";
}

namespace {

enum class Exp {
  greeting,
  ehlo,
  helo,
  starttls,
  auth_plain,
  auth_login,
  auth_login_user,
  auth_login_pass,
  rset,
  mail,
  rcpt,
  data,
  dot,
  quit
};

Phase phase_of(Exp e) {
  switch (e) {
    case Exp::greeting:
      return Phase::greeting;
    case Exp::ehlo:
    case Exp::helo:
      return Phase::ehlo;
    case Exp::starttls:
      return Phase::starttls;
    case Exp::auth_plain:
    case Exp::auth_login:
    case Exp::auth_login_user:
    case Exp::auth_login_pass:
      return Phase::auth;
    case Exp::rset:
    case Exp::mail:
      return Phase::mail;
    case Exp::rcpt:
      return Phase::rcpt;
    case Exp::data:
      return Phase::data;
    case Exp::dot:
      return Phase::dot;
    case Exp::quit:
      return Phase::quit;
  }
  return Phase::mail;
}

bool safe_address(std::string_view a) {
  for (char ch : a) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>') return false;
  }
  return true;
}

core::Severity severity_of(int code) {
  if (code < 400) return core::Severity::ok;
  if (code < 500) return core::Severity::temporary;
  return core::Severity::permanent;
}

}  // namespace

struct ClientSession::Impl {
  Config cfg;
  ReplyParser parser;
  std::deque<Exp> expect;
  Capabilities caps;
  std::vector<Action> out;

  bool connected = false, closed = false, tls = false, authed = false;
  bool tls_pending = false, waiting_message = false, streaming = false;
  bool need_rset = false;
  std::optional<Outcome> failure;  // why the connection ended, for messages handed in late

  // Current message.
  bool have_msg = false;
  OutgoingMessage msg;
  std::vector<std::optional<Outcome>> results;
  std::vector<size_t> rcpt_idx;  // recipients sent RCPT, in order
  size_t rcpt_sent = 0, rcpt_replied = 0;
  std::vector<size_t> accepted;
  bool mail_failed = false;
  ContentEncoder enc;

  explicit Impl(Config c)
      : cfg(std::move(c)), parser(ReplyParser::Limits{cfg.max_reply_line, cfg.max_reply_lines}) {}

  Phase phase() const {
    if (!connected) return Phase::connect;
    if (tls_pending) return Phase::starttls;
    if (streaming) return Phase::data;
    if (!expect.empty()) return phase_of(expect.front());
    return Phase::mail;  // waiting for the driver's next message
  }

  // Out of line of the callers: GCC 12 reports a false maybe-uninitialized when a variant
  // temporary of an empty alternative is pushed directly.
  [[gnu::noinline]] void act(Action a) { out.push_back(std::move(a)); }
  void send(std::string bytes) { act(Send{std::move(bytes)}); }
  void command(std::string line, Exp e) {
    send(line + "\r\n");
    expect.push_back(e);
  }

  Outcome local(int code, std::string enhanced, std::string text, Phase p) const {
    return Outcome{code, std::move(enhanced), std::move(text), p, severity_of(code), false, tls};
  }
  Outcome remote(const Reply& r, Phase p) const {
    return Outcome{r.code, r.enhanced, r.full(), p, severity_of(r.code), true, tls};
  }

  // The connection ends: unfinished recipients of the current message get `o`.
  void fail(Outcome o, bool send_quit, bool retry_plain = false) {
    if (closed) return;
    failure = o;
    if (have_msg) {
      for (auto& r : results)
        if (!r) r = o;
      finish_message(false);
    }
    bool early = o.phase == Phase::connect || o.phase == Phase::greeting ||
                 o.phase == Phase::ehlo || o.phase == Phase::starttls;
    act(ConnectionFailed{std::move(o), early, retry_plain});
    if (send_quit) send("QUIT\r\n");
    act(Close{});
    closed = true;
    expect.clear();
    waiting_message = streaming = tls_pending = false;
  }

  static std::string first_word(const Reply& r) {
    if (r.lines.empty()) return {};
    const std::string& l = r.lines.front();
    return l.substr(0, l.find_first_of(" \t"));
  }
  bool loops_back(const Reply& r) const {
    std::string w = first_word(r);
    while (!w.empty() && w.back() == '.') w.pop_back();
    if (w.empty()) return false;
    for (const auto& n : cfg.loop_names)
      if (!n.empty() && core::iequals(n, w)) return true;
    return false;
  }

  void protocol_error(const std::string& why) {
    fail(local(451, "4.5.0",
               std::string("protocol error in phase ") + phase_name(phase()) + ": " + why, phase()),
         false);
  }

  void finish_message(bool ask_next) {
    MessageResult mr;
    for (auto& r : results)
      mr.recipients.push_back(r ? *r : local(451, "4.5.0", "no result", Phase::mail));
    act(std::move(mr));
    have_msg = false;
    results.clear();
    if (ask_next) ready();
  }

  void ready() {
    waiting_message = true;
    act(NeedMessage{});
  }

  void after_hello() {
    if (!tls && cfg.tls != TlsPolicy::none && caps.starttls) {
      command("STARTTLS", Exp::starttls);
    } else if (!tls && cfg.tls == TlsPolicy::required) {
      fail(local(451, "4.7.4", "TLS required but not offered", Phase::starttls), true);
    } else {
      auth_or_ready();
    }
  }

  void auth_or_ready() {
    if (cfg.username.empty() || authed) return ready();
    if (!tls && cfg.tls != TlsPolicy::none)
      return fail(local(451, "4.7.0", "AUTH not attempted: TLS is not active", Phase::auth), true);
    if (caps.auth_plain) {
      std::string ir = std::string(1, '\0') + cfg.username + std::string(1, '\0') + cfg.password;
      command("AUTH PLAIN " + core::base64_encode(ir), Exp::auth_plain);
    } else if (caps.auth_login) {
      command("AUTH LOGIN", Exp::auth_login);
    } else {
      fail(local(451, "4.7.0", "AUTH PLAIN or LOGIN not offered by the server", Phase::auth), true);
    }
  }

  void auth_failed(const Reply& r) {
    if (r.code < 400)  // e.g. 334 where 235 was due
      return fail(local(451, "4.5.0", "unexpected reply to AUTH: " + r.full(), Phase::auth), true);
    Outcome o = remote(r, Phase::auth);
    if (r.code >= 500 && cfg.auth_failure_temporary) o.severity = core::Severity::temporary;
    fail(std::move(o), true);
  }

  void start_message(OutgoingMessage m) {
    msg = std::move(m);
    have_msg = true;
    results.assign(msg.recipients.size(), std::nullopt);
    rcpt_idx.clear();
    accepted.clear();
    rcpt_sent = rcpt_replied = 0;
    mail_failed = false;
    enc = ContentEncoder{};

    auto all = [&](const Outcome& o) {
      for (auto& r : results)
        if (!r) r = o;
    };
    if (!safe_address(msg.sender))
      all(local(553, "5.1.7", "sender address not usable on the wire", Phase::mail));
    else if (msg.smtputf8 && !caps.smtputf8)
      all(local(550, "5.6.7", "SMTPUTF8 required but not offered by the server", Phase::mail));
    else if (msg.eightbit && !caps.eightbitmime)
      all(local(554, "5.6.3",
                "8-bit message and the server does not offer 8BITMIME (RFC 6152); Tern does "
                "not convert it to 7-bit, which would break its DKIM signature",
                Phase::mail));
    else if (caps.size > 0 && msg.size > caps.size)
      all(local(552, "5.3.4",
                "message size " + std::to_string(msg.size) + " exceeds the server's limit " +
                    std::to_string(caps.size),
                Phase::mail));
    for (size_t i = 0; i < msg.recipients.size(); ++i) {
      if (results[i]) continue;
      if (!safe_address(msg.recipients[i]) || msg.recipients[i].empty())
        results[i] = local(553, "5.1.3", "recipient address not usable on the wire", Phase::rcpt);
      else
        rcpt_idx.push_back(i);
    }
    if (rcpt_idx.empty()) return finish_message(true);
    if (need_rset) return command("RSET", Exp::rset);
    send_transaction();
  }

  void send_transaction() {
    std::string mail = "MAIL FROM:<" + msg.sender + ">";
    if (caps.size_advertised && msg.size > 0) mail += " SIZE=" + std::to_string(msg.size);
    if (msg.eightbit && caps.eightbitmime) mail += " BODY=8BITMIME";
    if (msg.smtputf8 && caps.smtputf8) mail += " SMTPUTF8";
    need_rset = true;  // a transaction is open until the final-dot reply
    if (!caps.pipelining) return command(mail, Exp::mail);
    // RFC 2920 §3.1: MAIL and RCPT may be grouped; DATA ends the group.
    std::string batch = mail + "\r\n";
    expect.push_back(Exp::mail);
    for (size_t i : rcpt_idx) {
      batch += "RCPT TO:<" + msg.recipients[i] + ">\r\n";
      expect.push_back(Exp::rcpt);
    }
    rcpt_sent = rcpt_idx.size();
    batch += "DATA\r\n";
    expect.push_back(Exp::data);
    send(std::move(batch));
  }

  void send_next_rcpt() {
    size_t i = rcpt_idx[rcpt_sent++];
    command("RCPT TO:<" + msg.recipients[i] + ">", Exp::rcpt);
  }

  void on_reply(const Reply& r) {
    if (expect.empty()) {
      // RFC 5321 §3.8: a server may announce shutdown (421) at any time. Other errors out of
      // turn (e.g. during content) end the connection too, but are never taken as a
      // permanent verdict: we cannot tell what they answer.
      if (r.code >= 400) {
        Outcome o = remote(r, phase());
        o.severity = core::Severity::temporary;
        return fail(std::move(o), false);
      }
      return protocol_error("unexpected reply " + std::to_string(r.code));
    }
    Exp e = expect.front();
    expect.pop_front();
    int cls = r.code / 100;
    if (r.code == 421 && e != Exp::quit) return fail(remote(r, phase_of(e)), false);

    if ((e == Exp::greeting || e == Exp::ehlo) && cls == 2 && loops_back(r))
      return fail(local(554, "5.4.6",
                        "mail loops back to myself: the server greets as " + first_word(r) +
                            ", Tern's own name",
                        phase_of(e)),
                  true);
    switch (e) {
      case Exp::greeting:
        if (cls == 2) return command("EHLO " + cfg.helo_name, Exp::ehlo);
        if (cls == 3) return protocol_error("greeting " + std::to_string(r.code));
        return fail(remote(r, Phase::greeting), true);
      case Exp::ehlo:
        if (cls == 2) {
          caps = parse_capabilities(std::vector<std::string>(r.lines.begin() + 1, r.lines.end()));
          return after_hello();
        }
        if (r.code == 500 || r.code == 502) return command("HELO " + cfg.helo_name, Exp::helo);
        if (cls == 3) return protocol_error("EHLO " + std::to_string(r.code));
        return fail(remote(r, Phase::ehlo), true);
      case Exp::helo:
        if (cls == 2) {
          caps = Capabilities{};
          return after_hello();
        }
        if (cls == 3) return protocol_error("HELO " + std::to_string(r.code));
        return fail(remote(r, Phase::ehlo), true);
      case Exp::starttls:
        if (cls == 2) {
          // Anything already buffered came over plaintext after the 220: drop it.
          parser.clear();
          tls_pending = true;
          act(StartTls{});
          return;
        }
        if (cfg.tls == TlsPolicy::required)
          return fail(
              local(451, "4.7.4", "TLS required but STARTTLS failed: " + r.full(), Phase::starttls),
              true);
        return auth_or_ready();  // opportunistic: carry on in plaintext (RFC 3207 §4.1)
      case Exp::auth_plain:
      case Exp::auth_login_pass:
        if (cls == 2) {
          authed = true;
          return ready();
        }
        return auth_failed(r);
      case Exp::auth_login:
        if (r.code == 334) return command(core::base64_encode(cfg.username), Exp::auth_login_user);
        return auth_failed(r);
      case Exp::auth_login_user:
        if (r.code == 334) return command(core::base64_encode(cfg.password), Exp::auth_login_pass);
        return auth_failed(r);
      case Exp::rset:
        if (cls == 2) {
          need_rset = false;
          return send_transaction();
        }
        return fail(local(451, "4.5.0", "RSET failed: " + r.full(), Phase::mail), true);
      case Exp::mail:
        if (cls == 3) return protocol_error("MAIL " + std::to_string(r.code));
        if (cls == 2) {
          if (!caps.pipelining) send_next_rcpt();
          return;
        }
        mail_failed = true;
        for (size_t i : rcpt_idx) results[i] = remote(r, Phase::mail);
        if (!caps.pipelining) return finish_message(true);
        return;  // the pipelined RCPT and DATA replies are still due
      case Exp::rcpt: {
        if (cls == 3) return protocol_error("RCPT " + std::to_string(r.code));
        size_t i = rcpt_idx[rcpt_replied++];
        if (!mail_failed) {
          if (cls == 2)
            accepted.push_back(i);
          else
            results[i] = remote(r, Phase::rcpt);
        }
        if (caps.pipelining) return;
        if (rcpt_sent < rcpt_idx.size()) return send_next_rcpt();
        if (accepted.empty()) return finish_message(true);
        return command("DATA", Exp::data);
      }
      case Exp::data:
        if (cls == 3) {
          if (accepted.empty()) {
            // A pipelining server must refuse DATA without recipients (RFC 2920 §3.1); one
            // that does not gets an empty message to end DATA, and its reply is ignored.
            send(".\r\n");
            expect.push_back(Exp::dot);
            return;
          }
          streaming = true;
          act(NeedContent{});
          return;
        }
        if (cls == 2) return protocol_error("DATA " + std::to_string(r.code));
        for (size_t i : accepted) results[i] = remote(r, Phase::data);
        return finish_message(true);
      case Exp::dot:
        if (cls == 3) return protocol_error("end of data " + std::to_string(r.code));
        for (size_t i : accepted) results[i] = remote(r, Phase::dot);
        need_rset = false;
        return finish_message(true);
      case Exp::quit:
        closed = true;
        act(Close{});
        return;
    }
  }

  // Handles buffered replies until one needs the driver. While NeedMessage is outstanding
  // nothing is processed (the driver's answer decides what a reply means), so a message is
  // never handed to a session that closed behind the driver's back; only a little may wait.
  void pump() {
    while (!closed && !tls_pending) {
      if (waiting_message) {
        if (parser.buffered() > cfg.max_reply_line + 2)
          protocol_error("unexpected data while idle");
        break;
      }
      auto r = parser.next();
      if (std::holds_alternative<std::monostate>(r)) break;
      if (auto* e = std::get_if<ReplyError>(&r)) {
        protocol_error(e->message);
        break;
      }
      on_reply(std::get<Reply>(r));
    }
  }

  std::vector<Action> take() {
    std::vector<Action> v;
    v.swap(out);
    return v;
  }
};

ClientSession::ClientSession(Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
ClientSession::~ClientSession() = default;

std::vector<Action> ClientSession::on_connected() {
  auto& s = *impl_;
  if (s.closed || s.connected) return {};
  s.connected = true;
  s.tls = s.cfg.implicit_tls;
  s.expect.push_back(Exp::greeting);
  return s.take();
}

std::vector<Action> ClientSession::on_connect_failed(std::string_view reason) {
  auto& s = *impl_;
  if (s.closed) return {};
  s.fail(s.local(451, "4.4.1", "connection failed: " + std::string(reason), Phase::connect), false);
  return s.take();
}

std::vector<Action> ClientSession::feed(std::string_view bytes) {
  auto& s = *impl_;
  if (s.closed || !s.connected || s.tls_pending) return {};  // tls_pending: RFC 3207 §4.2
  s.parser.feed(bytes);
  s.pump();
  return s.take();
}

std::vector<Action> ClientSession::on_tls(bool ok) {
  auto& s = *impl_;
  if (s.closed || !s.tls_pending) return {};
  s.tls_pending = false;
  if (!ok) {
    s.fail(s.local(451, "4.7.5", "TLS handshake failed", Phase::starttls), false,
           s.cfg.tls == TlsPolicy::opportunistic);
    return s.take();
  }
  s.tls = true;
  s.caps = Capabilities{};  // RFC 3207 §4.2: forget what the plaintext EHLO said
  s.parser.clear();
  s.command("EHLO " + s.cfg.helo_name, Exp::ehlo);
  return s.take();
}

std::vector<Action> ClientSession::on_message(OutgoingMessage m) {
  auto& s = *impl_;
  if (s.closed) {
    // The connection ended while the driver was choosing this message (the actions that
    // said so may still be queued behind NeedMessage): settle it at once.
    Outcome o = s.failure ? *s.failure : s.local(451, "4.4.2", "connection closed", s.phase());
    return {MessageResult{std::vector<Outcome>(m.recipients.size(), o)}};
  }
  if (!s.waiting_message) return {};
  s.waiting_message = false;
  s.start_message(std::move(m));
  s.pump();
  return s.take();
}

std::vector<Action> ClientSession::on_no_more_messages() {
  auto& s = *impl_;
  if (s.closed || !s.waiting_message) return {};
  s.waiting_message = false;
  s.command("QUIT", Exp::quit);
  s.pump();
  return s.take();
}

std::vector<Action> ClientSession::on_content(std::string_view bytes, bool last) {
  auto& s = *impl_;
  if (s.closed || !s.streaming) return {};
  std::string wire;
  s.enc.encode(bytes, wire);
  if (last) {
    s.enc.finish(wire);
    s.streaming = false;
    s.expect.push_back(Exp::dot);
  }
  if (!wire.empty()) s.send(std::move(wire));
  if (!last) s.act(NeedContent{});
  return s.take();
}

// The connection ends from outside (timeout, peer close): fine after QUIT, else a temporary
// failure "<why> in phase X" for everything still pending.
std::vector<Action> ClientSession::end_connection(const char* why) {
  auto& s = *impl_;
  if (s.closed) return {};
  Phase p = s.phase();
  if (p == Phase::quit) {
    s.closed = true;
    s.act(Close{});
  } else {
    s.fail(s.local(451, "4.4.2", std::string(why) + " in phase " + phase_name(p), p), false);
  }
  return s.take();
}

std::vector<Action> ClientSession::on_timeout() { return end_connection("timeout"); }

std::vector<Action> ClientSession::on_closed() {
  return end_connection("connection closed by the server");
}

Phase ClientSession::phase() const { return impl_->phase(); }
bool ClientSession::closed() const { return impl_->closed; }
bool ClientSession::tls_active() const { return impl_->tls; }
const Capabilities& ClientSession::capabilities() const { return impl_->caps; }

}  // namespace tern::smtp
