// Submission::submit: policy, header fix-up, per-recipient tracking copies, DKIM signing and
// spool commits for one whole message. See submission.hpp for the contract.
//
// Copies are built, signed and written one at a time and their commits run concurrently (the
// spool's group commit shares the fsyncs), so memory stays at about one copy of the message
// even for a tracked message to 1000 recipients.
#include "pipeline/submission.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "core/address.hpp"
#include "core/ids.hpp"
#include "message/address_list.hpp"
#include "message/date.hpp"
#include "message/encoded_words.hpp"
#include "message/header.hpp"
#include "pipeline/key_cache.hpp"
#include "pipeline/message_signer.hpp"
#include "policy/account_apply.hpp"
#include "policy/header_rules.hpp"
#include "policy/options.hpp"
#include "policy/sender.hpp"
#include "queue/spool.hpp"
#include "store/message_log.hpp"
#include "tracking/rewriter.hpp"
#include "tracking/token.hpp"

namespace tern::pipeline {

namespace {

using core::Error;

// A policy refusal: its SMTP line is the text (the API answers it as is).
Error refused(const core::Status& s) { return Error::invalid(s.line()); }
// The sender policy's refusal, which clients tell apart (HTTP 400 sender_not_authorized).
Error sender_refused(const core::Status& s) {
  return refused(s).because(core::ErrorReason::sender_not_authorized);
}

// Bare CR, bare LF or NUL: never in a message Tern stores (the SMTP path refuses them too).
bool malformed(std::string_view m) {
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\0') return true;
    if (m[i] == '\r' && (i + 1 == m.size() || m[i + 1] != '\n')) return true;
    if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) return true;
  }
  return false;
}

std::string first_address(const std::vector<message::HeaderField>& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (!core::iequals(f.name, name)) continue;
    auto list = message::parse_address_list(f.value());
    if (list && !list->empty()) return list->front().mailbox.str();
    return {};
  }
  return {};
}

struct Pending {
  queue::QueuedMessage msg;  // without content: what on_accepted gets
  std::future<queue::CommitOutcome> done;
};

}  // namespace

Submission::Submission(SubmissionServices svc) : svc_(std::move(svc)) {}
Submission::~Submission() = default;

bool Submission::tracks(const policy::MessageOptions& options) const {
  return !options.tracking_url.empty() &&
         svc_.tracking_secret.size() >= tracking::kMinSecretBytes && !svc_.public_url.empty();
}

core::Result<SubmitResult> Submission::submit(SubmitRequest req) {
  if (!svc_.spool) return Error::temp("submission: no spool");
  const auto now = std::chrono::system_clock::now();
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();

  // Envelope recipients: valid, deduplicated, in order.
  std::vector<std::string> rcpts;
  for (const auto& r : req.recipients) {
    auto mb = core::parse_mailbox(r);
    if (!mb) return refused({550, "5.1.3", "Invalid recipient address"});
    std::string a = mb->str();
    if (std::find(rcpts.begin(), rcpts.end(), a) == rcpts.end()) rcpts.push_back(std::move(a));
  }
  if (rcpts.empty()) return refused({554, "5.5.1", "No valid recipients"});
  if (malformed(req.message))
    return refused({550, "5.6.0", "Message contains bare CR or LF line endings or NUL"});

  const std::string first_qid = req.queue_id.empty() ? core::new_queue_id() : req.queue_id;
  std::string sender = req.sender;
  policy::MessageOptions options = req.options;
  std::string header_from, message_id, subject;
  // The message without its Received field: the prefix is added per copy (it names the copy's
  // queue id) on the HTTP path; the SMTP session already wrote its own.
  std::string rest;
  std::string received_head, received_tail;
  if (!req.header_final) {
    auto hs = message::parse_header_section(req.message);
    if (req.account) {
      core::Status s = policy::authorize_sender(*req.account, sender);
      if (!s.ok()) return sender_refused(s);
    }
    policy::HeaderRules rules;
    rules.authserv_id = svc_.hostname;
    policy::HeaderVerdict v =
        policy::apply_header_rules(req.account.get(), hs.fields, rcpts, rules, options);
    if (!v.status.ok()) return v.sender_refused ? sender_refused(v.status) : refused(v.status);
    header_from = std::move(v.header_from);
    options = std::move(v.options);
    message_id = std::move(v.message_id);
    for (const auto& f : hs.fields)
      if (core::iequals(f.name, "Subject")) {
        subject = message::decode_display_text(f.value());
        break;
      }
    const bool has_date = v.has_date;
    const auto& kept = v.kept;
    rest =
        policy::merge_account_cc(kept, req.account ? req.account->cc : std::vector<std::string>{});
    const std::string date = message::rfc5322_date(now_s);
    if (!has_date) rest += "Date: " + date + "\r\n";
    if (message_id.empty()) {
      message_id = "<" + first_qid + "@" + svc_.hostname + ">";
      rest += "Message-ID: " + message_id + "\r\n";
    }
    rest.append(req.message, hs.body_offset, std::string::npos);
    req.message.clear();
    req.message.shrink_to_fit();
    const std::string ip = req.client_ip.empty() ? "127.0.0.1" : req.client_ip;
    received_head = "Received: from [" + ip + "] (" + ip + ") by " + svc_.hostname +
                    " (Tern) with " + req.via + " id ";
    received_tail = "; " + date + "\r\n";
    if (req.account) policy::apply_account_envelope(*req.account, sender, rcpts);
  } else {
    rest = std::move(req.message);
    auto hs = message::parse_header_section(rest);
    header_from = first_address(hs.fields, "From");
    for (const auto& f : hs.fields) {
      if (core::iequals(f.name, "Message-ID") && message_id.empty()) message_id = f.value();
      if (core::iequals(f.name, "Subject") && subject.empty())
        subject = message::decode_display_text(f.value());
    }
  }
  auto content_for = [&](const std::string& qid) {
    if (received_head.empty()) return rest;
    std::string c;
    c.reserve(received_head.size() + qid.size() + received_tail.size() + rest.size());
    c += received_head;
    c += qid;
    c += received_tail;
    c += rest;
    return c;
  };

  if (options.bulk_id.empty()) options.bulk_id = first_qid;
  const std::string options_json = policy::to_json(options);

  // DKIM keys of the account for the From domain (cached; a database read on a miss).
  std::vector<SignerKey> keys;
  const std::string from_domain = [&] {
    auto mb = core::parse_mailbox(header_from);
    return mb ? mb->domain : std::string();
  }();
  if (svc_.dkim_keys && req.account && !from_domain.empty()) {
    auto loaded = svc_.dkim_keys->get(req.account->id, from_domain);
    if (!loaded) return loaded.error();  // temporary: defer, never send unsigned
    keys = std::move(loaded.value());
  }

  bool tracked = tracks(options);

  SubmitResult result;
  result.bulk_id = options.bulk_id;
  std::vector<Pending> pending;
  std::optional<Error> failure;

  auto store_copy = [&](const std::string& qid, std::vector<std::string> copy_rcpts,
                        std::string content) -> bool {
    queue::QueuedMessage m;
    m.id = qid;
    if (req.account) {
      m.account_id = req.account->id;
      m.account_name = req.account->name;
    }
    m.sender = sender;
    for (auto& r : copy_rcpts) {
      queue::Recipient rc;
      rc.address = std::move(r);
      m.recipients.push_back(std::move(rc));
    }
    m.received_ms = now_ms;
    m.client_ip = req.client_ip;
    m.helo = req.header_final ? std::string() : req.via;
    m.message_id = message_id;
    m.header_from = header_from;
    m.subject = subject;
    m.smtputf8 = req.smtputf8;
    m.eightbit = req.eightbit;
    m.options_json = options_json;
    if (!keys.empty()) {
      MessageSigner signer;
      signer.add(content);
      signer.enable(keys);
      m.prepend = signer.finish(now_s);
    }
    auto w = svc_.spool->begin(qid);
    if (auto r = w->append(content); !r) {
      failure = r.error();
      return false;
    }
    m.content_size = content.size();
    auto prom = std::make_shared<std::promise<queue::CommitOutcome>>();
    Pending p{m, prom->get_future()};
    svc_.spool->commit(std::move(w), std::move(m),
                       [prom](queue::CommitOutcome o) { prom->set_value(std::move(o)); });
    pending.push_back(std::move(p));
    return true;
  };

  if (tracked) {
    for (size_t i = 0; i < rcpts.size(); ++i) {
      const std::string qid = i == 0 ? first_qid : core::new_queue_id();
      std::string content = content_for(qid);
      tracking::RewriteOptions ro;
      ro.base_url = svc_.public_url;
      ro.secret = svc_.tracking_secret;
      ro.message_id = qid;
      ro.recipient = 0;  // each copy has one recipient
      // The tokens carry what the open/click event needs, so it is recorded and reported even
      // before the message log has the copy's row (rows are written in batches).
      tracking::TokenContext ctx{req.account ? req.account->id : 0, rcpts[i], options.bulk_id,
                                 options.tracking_url, options.callback_data};
      if (tracking::context_fits(ctx)) ro.context = std::move(ctx);
      auto rr = tracking::rewrite_message(content, ro);
      if (i == 0 && rr.status != tracking::RewriteStatus::rewritten) {
        if (rr.status == tracking::RewriteStatus::refused)
          spdlog::info("{}: not tracked: {}", qid, rr.reason);
        tracked = false;  // stored once, untracked
        break;
      }
      if (rr.status == tracking::RewriteStatus::rewritten) content = std::move(rr.message);
      if (!store_copy(qid, {rcpts[i]}, std::move(content))) break;
      result.recipients.push_back({rcpts[i], store::make_message_id(qid, 0), qid});
    }
  }
  if (!tracked) {
    if (store_copy(first_qid, rcpts, content_for(first_qid)))
      for (size_t i = 0; i < rcpts.size(); ++i)
        result.recipients.push_back(
            {rcpts[i], store::make_message_id(first_qid, static_cast<int>(i)), first_qid});
  }

  // Every commit handed over is waited for, also after a failure: those that became durable
  // are delivered (at-least-once) and reported to on_accepted.
  size_t committed = 0;
  for (auto& p : pending) {
    queue::CommitOutcome o = p.done.get();
    if (o.ok) {
      ++committed;
      accepted_.fetch_add(1, std::memory_order_relaxed);
      if (svc_.on_accepted) svc_.on_accepted(p.msg);
    } else if (!failure) {
      failure = Error::of(o.disk_full ? core::ErrorCode::disk_full : core::ErrorCode::unavailable,
                          "spool commit failed: " + o.error);
    }
  }
  if (failure) {
    if (committed > 0)
      failure->message += "; " + std::to_string(committed) + " of " +
                          std::to_string(tracked ? rcpts.size() : 1) +
                          " copies were accepted and will be delivered";
    return *failure;
  }
  return result;
}

}  // namespace tern::pipeline
