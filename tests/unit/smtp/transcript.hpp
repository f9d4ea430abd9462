// Transcript harness for ServerSession tests: a fake driver that answers Authenticate
// (user/pass → ok), CommitMessage (ok) and StartTls (handshake ok once the client's whole
// write was fed: bytes of that write after STARTTLS are the injection the session must drop),
// and records everything as "S: <reply line>" / "A: <action>" lines with the random queue id
// replaced by "QID".
//
// Script lines: "C: text" client line (+CRLF); "--" ends a write with no output expected; "R: text"
// raw client bytes with escapes \r \n \0 \\ (no CRLF added); "S: text" expected reply line; "A:
// text" expected action. Consecutive C/R lines form one client write (a step); each step may be fed
// split.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "smtp/server_session.hpp"

namespace tern::smtp::testing {

struct Step {
  std::string client;
  std::vector<std::string> expect;
};

inline std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char n = s[++i];
    if (n == 'r')
      out += '\r';
    else if (n == 'n')
      out += '\n';
    else if (n == '0')
      out += '\0';
    else
      out += n;
  }
  return out;
}

inline std::vector<Step> parse_script(const std::string& script) {
  std::vector<Step> steps;
  bool in_client = false;
  size_t pos = 0;
  while (pos < script.size()) {
    size_t nl = script.find('\n', pos);
    if (nl == std::string::npos) nl = script.size();
    std::string line = script.substr(pos, nl - pos);
    pos = nl + 1;
    size_t b = line.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    line = line.substr(b);
    std::string tag = line.substr(0, 2), text = line.size() > 3 ? line.substr(3) : "";
    if (tag == "C:" || tag == "R:") {
      if (!in_client) steps.push_back({});
      in_client = true;
      steps.back().client += tag == "C:" ? text + "\r\n" : unescape(text);
    } else if (tag == "--") {
      in_client = false;
    } else {
      if (steps.empty()) steps.push_back({});
      in_client = false;
      steps.back().expect.push_back(tag + " " + text);
    }
  }
  return steps;
}

inline std::shared_ptr<const policy::AccountContext> test_account() {
  auto a = std::make_shared<policy::AccountContext>();
  a->id = 7;
  a->name = "acme";
  a->domains = {"example.com"};
  a->senders = {"alice@other.org"};
  a->platform_domains = {"platform.net"};
  a->defaults.notify_content_type = "application/json";
  a->defaults.notify_url = "https://hooks.example.com/default";
  return a;
}

struct Replay {
  std::vector<std::vector<std::string>> logs;  // per step
  std::vector<std::string> committed;          // content of committed messages
  std::vector<Envelope> envelopes;
  std::vector<std::string> aborted;  // content handed out, then aborted
};

enum class CommitMode { ok, disk_full, error };

struct Driver {
  ServerSession& s;
  CommitMode commit_mode = CommitMode::ok;
  Replay run;
  std::string qid, current;
  bool pending_tls = false;
  std::vector<std::string>* log = nullptr;
  std::shared_ptr<const policy::AccountContext> account = test_account();

  std::string fix(std::string t) const {
    if (qid.empty()) return t;
    for (size_t p; (p = t.find(qid)) != std::string::npos;) t.replace(p, qid.size(), "QID");
    return t;
  }

  void handle(std::vector<Action> acts) {
    for (auto& a : acts) {
      if (auto* r = std::get_if<SendReply>(&a)) {
        std::string b = r->bytes;
        size_t p = 0;
        while (p < b.size()) {
          size_t e = b.find("\r\n", p);
          if (e == std::string::npos) {
            log->push_back("S: <unterminated> " + b.substr(p));
            break;
          }
          log->push_back("S: " + fix(b.substr(p, e - p)));
          p = e + 2;
        }
      } else if (std::get_if<StartTls>(&a)) {
        log->push_back("A: StartTls");
        pending_tls = true;
      } else if (auto* au = std::get_if<Authenticate>(&a)) {
        log->push_back("A: Auth " + au->mechanism + " " + au->authzid + "/" + au->username + "/" +
                       au->password);
        AuthResult res;
        if (au->username == "user" && au->password == "pass") {
          res.kind = AuthResult::Kind::ok;
          res.account = account;
        } else if (au->username == "ratelimited") {
          res.kind = AuthResult::Kind::rate_limited;
        } else if (au->username == "temp") {
          res.kind = AuthResult::Kind::temp_error;
        }
        handle(s.on_auth(res));
      } else if (auto* bm = std::get_if<BeginMessage>(&a)) {
        qid = bm->queue_id;
        log->push_back("A: Begin");
        current.clear();
      } else if (auto* md = std::get_if<MessageData>(&a)) {
        current += md->bytes;
      } else if (std::get_if<AbortMessage>(&a)) {
        log->push_back("A: Abort");
        run.aborted.push_back(fix(current));
        current.clear();
      } else if (auto* cm = std::get_if<CommitMessage>(&a)) {
        std::string rc;
        for (auto& r : cm->envelope.recipients) rc += (rc.empty() ? "" : ",") + r;
        log->push_back("A: Commit <" + cm->envelope.sender + "> " + rc);
        EXPECT_EQ(cm->envelope.content_size, current.size());
        EXPECT_EQ(cm->envelope.queue_id, qid);
        run.committed.push_back(fix(current));
        run.envelopes.push_back(cm->envelope);
        current.clear();
        CommitResult res;
        res.ok = commit_mode == CommitMode::ok;
        res.queue_id = cm->envelope.queue_id;
        if (commit_mode == CommitMode::disk_full) res.error = core::ErrorCode::disk_full;
        handle(s.on_commit(res));
      } else if (std::get_if<Close>(&a)) {
        log->push_back("A: Close");
      }
    }
  }
};

// Feeds every step; `split` returns the chunks one step's bytes are fed as.
inline Replay replay(
    const std::vector<Step>& steps, const SessionConfig& cfg, const ConnectionInfo& conn,
    CommitMode mode,
    const std::function<std::vector<std::string>(size_t, const std::string&)>& split,
    std::shared_ptr<const policy::AccountContext> account = nullptr) {
  ServerSession s(cfg, conn, 1700000000);
  Driver d{s, mode, {}, {}, {}, false, nullptr};
  if (account) d.account = std::move(account);
  d.run.logs.resize(steps.size());
  d.log = &d.run.logs[0];
  if (steps.empty() || steps[0].client != "<early>\r\n") d.handle(s.start());
  for (size_t i = 0; i < steps.size(); ++i) {
    d.log = &d.run.logs[i];
    if (steps[i].client == "<timeout>\r\n") {
      d.handle(s.on_timeout());
      continue;
    }
    if (steps[i].client == "<early>\r\n") {
      d.handle(s.early_talker());
      continue;
    }
    for (const auto& chunk : split(i, steps[i].client)) d.handle(s.feed(chunk));
    if (d.pending_tls) {
      d.pending_tls = false;
      d.handle(s.on_tls(true));
    }
  }
  return d.run;
}

}  // namespace tern::smtp::testing
