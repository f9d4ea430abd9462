// ServerSession: connection state (greeting, TLS, AUTH) and the current transaction (MAIL,
// RCPT, DATA) as one sans-IO state machine. Decisions about who may send what live in
// policy/; header parsing in message/. See server_session.hpp for the contract.
#include "smtp/server_session.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include "core/address.hpp"
#include "core/base64.hpp"
#include "core/ids.hpp"
#include "core/utf8.hpp"
#include "message/date.hpp"
#include "message/encoded_words.hpp"
#include "message/header.hpp"
#include "policy/account_apply.hpp"
#include "policy/header_rules.hpp"
#include "policy/options.hpp"
#include "policy/sender.hpp"
#include "smtp/command.hpp"
#include "smtp/data_decoder.hpp"
#include "smtp/reply.hpp"

namespace tern::smtp {

namespace {

bool ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// RFC 5321 §4.4 TCP-info: the client's address as an address literal, "[192.0.2.1]" or
// "[IPv6:2001:db8::1]".
std::string address_literal(const std::string& ip) {
  if (ip.empty()) return "unknown";
  return ip.find(':') != std::string::npos ? "[IPv6:" + ip + "]" : "[" + ip + "]";
}

}  // namespace

std::string size_limit_text(size_t max_message_size) {
  auto human = [](double octets) {
    char buf[48];
    if (octets >= 1024.0 * 1024.0)
      std::snprintf(buf, sizeof buf, "%.1f MiB", octets / (1024.0 * 1024.0));
    else if (octets >= 1024.0)
      std::snprintf(buf, sizeof buf, "%.1f KiB", octets / 1024.0);
    else
      std::snprintf(buf, sizeof buf, "%.0f octets", octets);
    return std::string(buf);
  };
  // Base64 turns each 57 octets of an attachment into a 76-character line and its CRLF.
  const double limit = static_cast<double>(max_message_size);
  return "Message size exceeds fixed limit of " + human(limit) + " (about " +
         human(limit * 57.0 / 78.0) + " of attachments once base64-encoded)";
}

namespace {

bool looks_like_http(std::string_view buf) {
  for (const char* m : {"GET ", "POST ", "HEAD ", "PUT ", "CONNECT ", "OPTIONS "})
    if (buf.substr(0, std::string_view(m).size()) == m) return true;
  return false;
}

}  // namespace

struct ServerSession::Impl {
  enum class Mode { command, auth_plain, auth_login_user, auth_login_pass, data };
  enum class Wait { none, auth, commit, tls };

  SessionConfig cfg;
  ConnectionInfo conn;
  int64_t now;

  Mode mode = Mode::command;
  Wait wait = Wait::none;
  bool closed = false, tls = false, greeted = false, esmtp = false;
  bool seen_command = false, discarding = false;
  std::string helo;
  std::shared_ptr<const policy::AccountContext> account;  // set by a successful AUTH
  int auth_failures = 0, bad_commands = 0;
  std::string login_user;

  // Transaction (RFC 5321 §3.3).
  bool has_mail = false;
  std::string sender;
  std::vector<std::string> rcpts;
  bool smtputf8 = false, eightbit = false;

  // Message being received.
  std::optional<DataDecoder> dec;
  std::string queue_id;
  std::string hdr;  // header section collected so far
  bool hdr_done = false, hdr_overflow = false;
  std::optional<core::Status> reject;  // policy verdict found in the header section
  Envelope env;

  std::string inbuf, piece, replies;
  std::vector<Action> out;

  Impl(SessionConfig c, ConnectionInfo ci, int64_t t)
      : cfg(std::move(c)), conn(std::move(ci)), now(t) {
    tls = cfg.implicit_tls;
  }

  // --- output -------------------------------------------------------------------------------
  void reply(const core::Status& s) { replies += encode_reply(s); }
  void reply(int code, const char* enh, std::string text) {
    reply(core::Status{code, enh, std::move(text)});
  }
  void flush() {
    if (!replies.empty()) out.emplace_back(SendReply{std::move(replies)});
    replies.clear();
  }
  void act(Action a) {
    flush();
    out.push_back(std::move(a));
  }
  std::vector<Action> take() {
    flush();
    std::vector<Action> r;
    r.swap(out);
    return r;
  }
  void close() {
    if (closed) return;
    closed = true;
    inbuf.clear();
    act(Close{});
  }
  // A syntax or sequence error: counted, so a client that only sends junk is cut off.
  void bad(const core::Status& s) {
    reply(s);
    if (++bad_commands >= cfg.max_bad_commands) {
      reply(421, "4.7.0", cfg.hostname + " Error: too many errors");
      close();
    }
  }
  const policy::AccountContext* ctx() const {
    if (account) return account.get();
    return conn.trusted_account.get();
  }
  void reset_tx() {
    has_mail = false;
    sender.clear();
    rcpts.clear();
    smtputf8 = eightbit = false;
  }

  // --- input loop ---------------------------------------------------------------------------
  void run() {
    while (!closed && wait == Wait::none) {
      if (mode == Mode::data) {
        piece.clear();
        size_t used = dec->push(inbuf, piece);
        inbuf.erase(0, used);
        if (!piece.empty()) content(piece);
        if (!dec->done()) break;  // everything consumed
        end_of_data();
        continue;
      }
      if (!seen_command && looks_like_http(inbuf)) {
        reply(554, "5.5.1", "Protocol error");
        close();
        break;
      }
      size_t lf = inbuf.find('\n');
      if (discarding) {
        if (lf == std::string::npos) {
          inbuf.clear();
          break;
        }
        inbuf.erase(0, lf + 1);
        discarding = false;
        line_too_long();
        continue;
      }
      if (lf == std::string::npos) {
        // Whatever ends this line, it will be longer than the limit: stop buffering it now.
        if (inbuf.size() >= line_limit()) {
          inbuf.clear();
          discarding = true;
        }
        break;
      }
      if (lf + 1 > line_limit()) {
        inbuf.erase(0, lf + 1);
        line_too_long();
        continue;
      }
      std::string line = inbuf.substr(0, lf);
      inbuf.erase(0, lf + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      seen_command = true;
      handle_line(line);
    }
  }

  // RFC 4954 §4: an AUTH command or response line may carry up to 12288 octets of base64.
  static constexpr size_t kAuthLineLimit = 12288;
  size_t line_limit() const {
    if (mode != Mode::command) return kAuthLineLimit;
    if (inbuf.size() >= 5 && core::iequals(std::string_view(inbuf).substr(0, 5), "AUTH "))
      return kAuthLineLimit;
    return cfg.max_command_line;
  }

  void line_too_long() {
    seen_command = true;
    mode = Mode::command;  // an overlong AUTH response also ends the exchange
    bad({500, "5.5.2", "Line too long"});
  }

  void handle_line(const std::string& line) {
    if (mode != Mode::command) return auth_response(line);
    auto parsed = parse_command(line);
    if (auto* err = std::get_if<core::Status>(&parsed)) return bad(*err);
    const Command& c = std::get<Command>(parsed);
    switch (c.verb) {
      case Verb::ehlo:
        return ehlo(c.arg);
      case Verb::helo:
        reset_tx();
        helo = c.arg;
        greeted = true;
        esmtp = false;
        return reply(250, "", cfg.hostname);
      case Verb::mail:
        return mail(c);
      case Verb::rcpt:
        return rcpt(c);
      case Verb::data:
        return data();
      case Verb::rset:
        reset_tx();
        return reply(250, "2.0.0", "Ok");
      case Verb::noop:
        return reply(250, "2.0.0", "Ok");
      case Verb::quit:
        reply(221, "2.0.0", "Bye");
        return close();
      case Verb::vrfy:
        return reply(252, "2.5.0",
                     "Cannot VRFY user, but will accept message and attempt delivery");
      case Verb::help:
        replies += encode_multiline(214, "2.0.0",
                                    {"Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA",
                                     "RSET NOOP QUIT HELP VRFY", "End of HELP info"});
        return;
      case Verb::starttls:
        return starttls();
      case Verb::auth:
        return auth(c.arg);
    }
  }

  bool auth_allowed() const { return tls || cfg.allow_plaintext_auth; }

  void ehlo(const std::string& name) {
    reset_tx();
    helo = name;
    greeted = true;
    esmtp = true;
    std::vector<std::string> lines{
        cfg.hostname, "PIPELINING",          "SIZE " + std::to_string(cfg.max_message_size),
        "8BITMIME",   "ENHANCEDSTATUSCODES", "SMTPUTF8"};
    if (cfg.tls_available && !tls) lines.push_back("STARTTLS");
    if (auth_allowed()) lines.push_back("AUTH PLAIN LOGIN");
    replies += encode_multiline(250, "", lines);
  }

  void starttls() {
    if (tls) return bad({503, "5.5.1", "Error: TLS already active"});
    if (!cfg.tls_available) return reply(454, "4.7.0", "TLS not available");
    reply(220, "2.0.0", "Ready to start TLS");
    inbuf.clear();  // RFC 3207 §4.2: nothing sent before the handshake may be acted on
    act(StartTls{});
    wait = Wait::tls;
  }

  // --- AUTH (RFC 4954) -------------------------------------------------------------------------
  void auth(const std::string& arg) {
    if (!esmtp) return bad({503, "5.5.1", "Error: send EHLO first"});
    if (account) return bad({503, "5.5.1", "Already authenticated"});
    if (has_mail) return bad({503, "5.5.1", "Error: MAIL transaction in progress"});
    if (!auth_allowed())
      return reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    size_t sp = arg.find(' ');
    std::string mech = arg.substr(0, sp);
    std::string ir = sp == std::string::npos
                         ? ""
                         : arg.substr(arg.find_first_not_of(' ', sp) == std::string::npos
                                          ? arg.size()
                                          : arg.find_first_not_of(' ', sp));
    bool has_ir = !ir.empty();
    if (core::iequals(mech, "PLAIN")) {
      if (has_ir) return plain(ir);
      mode = Mode::auth_plain;
      return reply(334, "", "");
    }
    if (core::iequals(mech, "LOGIN")) {
      if (has_ir) {
        auto user = decode(ir);
        if (!user) return;
        login_user = *user;
        mode = Mode::auth_login_pass;
        return reply(334, "", "UGFzc3dvcmQ6");
      }
      mode = Mode::auth_login_user;
      return reply(334, "", "VXNlcm5hbWU6");
    }
    bad({504, "5.5.4", "Unrecognized authentication type"});
  }

  // "=" is an empty response (RFC 4954 §4). Decoded text must not contain NUL except where
  // the mechanism uses it as a separator (PLAIN), so callers check.
  std::optional<std::string> decode(const std::string& b64) {
    if (b64 == "=") return std::string();
    auto d = core::base64_decode(b64);
    if (!d) {
      mode = Mode::command;
      bad({501, "5.5.4", "Invalid base64 data"});
    }
    return d;
  }

  void auth_response(const std::string& line) {
    Mode m = mode;
    if (line == "*") {
      mode = Mode::command;
      return reply(501, "5.7.0", "Authentication cancelled");
    }
    if (m == Mode::auth_plain) {
      mode = Mode::command;
      return plain(line);
    }
    auto d = decode(line);
    if (!d) return;
    if (d->find('\0') != std::string::npos) {
      mode = Mode::command;
      return bad({501, "5.5.4", "Invalid authentication data"});
    }
    if (m == Mode::auth_login_user) {
      login_user = *d;
      mode = Mode::auth_login_pass;
      return reply(334, "", "UGFzc3dvcmQ6");
    }
    mode = Mode::command;
    authenticate({"LOGIN", "", std::move(login_user), std::move(*d)});
  }

  void plain(const std::string& b64) {
    auto d = decode(b64);
    if (!d) return;
    size_t a = d->find('\0');
    size_t b = a == std::string::npos ? a : d->find('\0', a + 1);
    if (b == std::string::npos || d->find('\0', b + 1) != std::string::npos || b == a + 1)
      return bad({501, "5.5.4", "Invalid authentication data"});
    std::string authzid = d->substr(0, a), authcid = d->substr(a + 1, b - a - 1);
    // RFC 4616 §2: an authorization identity the server cannot honour fails the exchange. Tern
    // has no proxy rights: only an empty one or the login itself is honoured. Counted like bad
    // credentials, without checking the password (nothing to learn from it).
    if (!authzid.empty() && authzid != authcid) {
      return auth_result({AuthResult::Kind::bad_credentials, nullptr},
                         "Authorization identity differs from the authentication identity; "
                         "acting as another user is not supported");
    }
    authenticate({"PLAIN", std::move(authzid), std::move(authcid), d->substr(b + 1)});
  }

  void authenticate(Authenticate a) {
    act(std::move(a));
    wait = Wait::auth;
  }

  void auth_result(const AuthResult& r, std::string why = "Authentication credentials invalid") {
    using K = AuthResult::Kind;
    if (r.kind == K::ok && r.account) {
      if (auto why = suspended(r.account->id))
        return reply(550, "5.7.1", policy::SuspendedAccounts::reply_text(*why));
      account = r.account;
      return reply(235, "2.7.0", "Authentication successful");
    }
    if (r.kind == K::rate_limited)
      return reply(454, "4.7.0", "Too many failed authentication attempts, try again later");
    if (r.kind != K::bad_credentials)
      return reply(454, "4.7.0", "Temporary authentication failure");
    reply(535, "5.7.8", std::move(why));
    if (++auth_failures >= cfg.max_auth_failures) {
      reply(421, "4.7.0", "Too many authentication failures");
      close();
    }
  }

  std::optional<std::string> suspended(int64_t account_id) const {
    if (!cfg.suspended) return std::nullopt;
    return cfg.suspended->reason(account_id);
  }

  // --- transaction ------------------------------------------------------------------------------
  void mail(const Command& c) {
    if (!greeted) return bad({503, "5.5.1", "Error: send HELO/EHLO first"});
    if (has_mail) return bad({503, "5.5.1", "Error: nested MAIL command"});
    const policy::AccountContext* a = ctx();
    if (!a) return reply(530, "5.7.0", "Authentication required");
    if (auto why = suspended(a->id))
      return reply(550, "5.7.1", policy::SuspendedAccounts::reply_text(*why));
    if (c.has_params && !esmtp) return bad({555, "5.5.4", "Unsupported parameter"});
    if (c.size && *c.size > cfg.max_message_size)
      return reply(552, "5.3.4", size_limit_text(cfg.max_message_size));
    if (!c.smtputf8 && !ascii(c.address))
      return reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    // RFC 6531 §3.3: under SMTPUTF8 a mailbox is UTF-8 (RFC 3629); other octets are no address
    // at all, so this is an address syntax error (RFC 3463 X.1.7), not 5.6.7 "non-ASCII not
    // permitted": non-ASCII is permitted here.
    if (!core::valid_utf8(c.address))
      return reply(553, "5.1.7", "Sender address is not valid UTF-8");
    core::Status s = policy::authorize_sender(*a, c.address);
    if (!s.ok()) return reply(s);
    has_mail = true;
    sender = c.address;
    rcpts.clear();
    smtputf8 = c.smtputf8;
    eightbit = c.body == Body::eight_bit_mime;
    reply(250, "2.1.0", "Sender address accepted");
  }

  void rcpt(const Command& c) {
    if (!has_mail) return bad({503, "5.5.1", "Error: need MAIL command"});
    if (!smtputf8 && !ascii(c.address))
      return reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    if (!core::valid_utf8(c.address))
      return reply(553, "5.1.3", "Recipient address is not valid UTF-8");
    // Addresses come lower-cased in the domain from the parser: equal strings are duplicates.
    for (const auto& r : rcpts)
      if (r == c.address) return reply(250, "2.1.5", "Recipient address accepted");
    if (rcpts.size() >= cfg.max_recipients) return reply(452, "4.5.3", "Too many recipients");
    rcpts.push_back(c.address);
    reply(250, "2.1.5", "Recipient address accepted");
  }

  void data() {
    if (!has_mail) return bad({503, "5.5.1", "Error: need MAIL command"});
    if (rcpts.empty()) return bad({503, "5.5.1", "Error: need RCPT command"});
    reply(354, "", "Continue");
    queue_id = core::new_queue_id();
    act(BeginMessage{queue_id});
    mode = Mode::data;
    dec.emplace(cfg.max_message_size, cfg.max_text_line);
    hdr.clear();
    hdr_done = hdr_overflow = false;
    reject.reset();
    env = Envelope{};
  }

  // --- message content -----------------------------------------------------------------------
  void emit(std::string bytes) {
    env.content_size += bytes.size();
    act(MessageData{std::move(bytes), std::nullopt});
  }

  void content(const std::string& p) {
    if (hdr_done) {
      if (!reject && !hdr_overflow) emit(p);
      return;
    }
    if (hdr_overflow) return;
    size_t old = hdr.size();
    hdr += p;
    size_t end = message::find_header_end(hdr, old);
    if (end != std::string::npos) return header_section(end);
    if (hdr.size() > cfg.max_header_bytes) {
      // The section may already have ended at a complete line that is not a field.
      auto hs = message::parse_header_section(hdr);
      if (hdr.find('\n', hs.body_offset) != std::string::npos)
        return header_section(hs.body_offset);
      hdr_overflow = true;
      hdr.clear();
    }
  }

  // The header section is hdr[0, end) at most (it may end earlier at a non-field line).
  void header_section(size_t end) {
    hdr_done = true;
    auto hs = message::parse_header_section(std::string_view(hdr).substr(0, end));
    if (hs.body_offset > cfg.max_header_bytes) {
      hdr_overflow = true;
      hdr.clear();
      return;
    }
    if (hs.fields.size() > cfg.max_header_count) {
      reject = core::Status{552, "5.3.4", "Message has too many header fields"};
      return;
    }
    const policy::AccountContext& a = *ctx();
    policy::HeaderRules rules;
    rules.authserv_id = cfg.hostname;
    rules.require_header_rcpts = cfg.require_header_rcpts;
    policy::HeaderVerdict v = policy::apply_header_rules(&a, hs.fields, rcpts, rules, a.defaults);
    env.header_from = std::move(v.header_from);
    env.options = std::move(v.options);
    env.message_id = std::move(v.message_id);
    for (const auto& f : hs.fields)
      if (core::iequals(f.name, "Subject")) {
        env.subject = message::decode_display_text(f.value());
        break;
      }
    const bool has_date = v.has_date;
    std::string fields = policy::merge_account_cc(v.kept, a.cc);
    if (!v.status.ok()) {
      reject = v.status;
      return;
    }
    std::string date = message::rfc5322_date(now);
    std::string head = "Received: from " + helo + " (" + address_literal(conn.remote_ip) + ") by " +
                       cfg.hostname + " (Tern) with " + with_protocol() + " id " + queue_id + "; " +
                       date + "\r\n";
    head += fields;
    if (!has_date) head += "Date: " + date + "\r\n";
    if (env.message_id.empty()) {
      env.message_id = "<" + queue_id + "@" + cfg.hostname + ">";
      head += "Message-ID: " + env.message_id + "\r\n";
    }
    head.append(hdr, hs.body_offset, std::string::npos);
    hdr.clear();
    hdr.shrink_to_fit();
    env.content_size += head.size();
    act(MessageData{std::move(head), env.options});
  }

  // RFC 3848 / RFC 6531 §4.3 "with" types: ESMTP, S = over TLS, A = authenticated; UTF8SMTP
  // in place of ESMTP when the transaction used SMTPUTF8.
  std::string with_protocol() const {
    if (!esmtp) return "SMTP";
    std::string proto = smtputf8 ? "UTF8SMTP" : "ESMTP";
    if (tls) proto += 'S';
    if (account) proto += 'A';
    return proto;
  }

  void end_of_data() {
    mode = Mode::command;
    if (!hdr_done && !hdr_overflow) header_section(hdr.size());
    std::optional<core::Status> verdict;
    if (dec->oversize())
      verdict = core::Status{552, "5.3.4", size_limit_text(cfg.max_message_size)};
    else if (hdr_overflow)
      verdict = core::Status{552, "5.3.4", "Message header size exceeds limit"};
    else if (dec->bare_cr() || dec->bare_lf())
      verdict = core::Status{550, "5.6.0", "Message contains bare CR or LF line endings"};
    else if (dec->nul())
      verdict = core::Status{550, "5.6.0", "Message contains NUL characters"};
    else if (dec->long_line())
      verdict = core::Status{
          550, "5.6.0",
          "Message contains a line longer than " + std::to_string(cfg.max_text_line) + " octets"};
    else if (reject)
      verdict = reject;
    // RFC 6152: 8-bit octets make the message 8BITMIME whether or not MAIL said BODY=8BITMIME
    // (clients often do not), so it is declared onward and never sent to a 7-bit-only hop.
    if (dec->eight_bit()) eightbit = true;
    dec.reset();
    hdr.clear();
    if (verdict) {
      act(AbortMessage{});
      reply(*verdict);
      reset_tx();
      return;
    }
    env.queue_id = queue_id;
    env.sender = sender;
    env.recipients = rcpts;
    // Account settings (SPEC §4): Mail-From replaces the envelope sender; CC and BCC join the
    // envelope (CC is in the header already). Duplicates of given recipients are not added.
    if (const policy::AccountContext* a = ctx())
      policy::apply_account_envelope(*a, env.sender, env.recipients);
    env.smtputf8 = smtputf8;
    env.eightbit = eightbit;
    env.helo = helo;
    act(CommitMessage{std::move(env)});
    env = Envelope{};
    wait = Wait::commit;
  }
};

ServerSession::ServerSession(SessionConfig cfg, ConnectionInfo conn, int64_t now)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(conn), now)) {}
ServerSession::~ServerSession() = default;

std::vector<Action> ServerSession::start() {
  impl_->reply(220, "", impl_->cfg.hostname + " ESMTP Tern");
  return impl_->take();
}

std::vector<Action> ServerSession::feed(std::string_view bytes) {
  auto& s = *impl_;
  if (s.closed || s.wait == Impl::Wait::tls) return {};  // pre-handshake bytes are dropped
  s.inbuf.append(bytes);
  s.run();
  return s.take();
}

std::vector<Action> ServerSession::early_talker() {
  auto& s = *impl_;
  if (s.closed) return {};
  s.reply(554, "5.5.0", "Error: SMTP protocol synchronization");
  s.close();
  return s.take();
}

std::vector<Action> ServerSession::on_tls(bool ok) {
  auto& s = *impl_;
  if (s.closed || s.wait != Impl::Wait::tls) return {};
  s.wait = Impl::Wait::none;
  if (!ok) {
    s.close();
    return s.take();
  }
  // RFC 3207 §4.2: forget everything learnt from the client before TLS.
  s.tls = true;
  s.greeted = s.esmtp = false;
  s.helo.clear();
  s.account.reset();
  s.reset_tx();
  s.inbuf.clear();
  s.run();
  return s.take();
}

std::vector<Action> ServerSession::on_auth(const AuthResult& r) {
  auto& s = *impl_;
  if (s.closed || s.wait != Impl::Wait::auth) return {};
  s.wait = Impl::Wait::none;
  s.auth_result(r);
  s.run();
  return s.take();
}

std::vector<Action> ServerSession::on_commit(const CommitResult& r) {
  auto& s = *impl_;
  if (s.closed || s.wait != Impl::Wait::commit) return {};
  s.wait = Impl::Wait::none;
  if (r.ok)
    s.reply(250, "2.0.0", "Ok: queued as " + (r.queue_id.empty() ? s.queue_id : r.queue_id));
  else
    s.reply(
        reply_for(r.error, r.defer_text.empty() ? "Error: queue file write error" : r.defer_text));
  s.reset_tx();
  s.run();
  return s.take();
}

std::vector<Action> ServerSession::on_timeout() {
  auto& s = *impl_;
  if (s.closed) return {};
  if (s.mode == Impl::Mode::data && s.wait == Impl::Wait::none) s.act(AbortMessage{});
  s.reply(421, "4.4.2", s.cfg.hostname + " Error: timeout exceeded");
  s.close();
  return s.take();
}

std::vector<Action> ServerSession::on_shutdown() {
  auto& s = *impl_;
  if (s.closed) return {};
  if (s.mode == Impl::Mode::data && s.wait == Impl::Wait::none) s.act(AbortMessage{});
  s.reply(421, "4.3.2", s.cfg.hostname + " Service shutting down, try again later");
  s.close();
  return s.take();
}

std::vector<Action> ServerSession::on_session_limit() {
  auto& s = *impl_;
  if (s.closed) return {};
  if (s.mode == Impl::Mode::data && s.wait == Impl::Wait::none) s.act(AbortMessage{});
  s.reply(421, "4.4.2", s.cfg.hostname + " Error: session time limit exceeded");
  s.close();
  return s.take();
}

void ServerSession::set_now(int64_t t) { impl_->now = t; }
bool ServerSession::in_data() const {
  return impl_->mode == Impl::Mode::data && impl_->wait == Impl::Wait::none && !impl_->closed;
}
bool ServerSession::closed() const { return impl_->closed; }
bool ServerSession::tls_active() const { return impl_->tls; }

}  // namespace tern::smtp
