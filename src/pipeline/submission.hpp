// Submission of one complete message that did not stream through an SMTP session: the HTTP send
// endpoint (POST /api/v1/messages), sender-verification emails, and SMTP messages with open/click
// tracking (which must be seen whole to be rewritten per recipient). Same policy and storage as
// the SMTP path: sender authorization (policy::authorize_sender on the envelope sender and the
// header From), the To/Cc-in-recipients rule, account Mail-From/CC/BCC, X-IB-* options,
// tracking, DKIM signing (pipeline::MessageSigner with pipeline::KeyCache), spool commit
// (fsync'd) and on_accepted (delivery engine, message log).
//
// Tracking: when options.tracking_url is set (and a tracking secret is configured), every
// recipient gets its own copy (its own queue id, one recipient, tokens naming it) rewritten by
// tracking::rewrite_message before signing; a message the rewriter refuses or that has no HTML
// is stored once, untracked. bulk_id defaults to the submission's first queue id, so the
// copies of one submission share it.
//
// Blocking: submit() returns after the spool's fsync; call it off the I/O threads.
// Invariants: nothing is acknowledged (ok result) unless every copy is durable; when a later
// copy fails after earlier ones committed, the error says so and the committed ones are still
// delivered (at-least-once, as for SMTP).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "policy/account_context.hpp"

namespace tern::queue {
class Spool;
struct QueuedMessage;
}  // namespace tern::queue

namespace tern::pipeline {

class KeyCache;

struct SubmissionServices {
  queue::Spool* spool = nullptr;
  KeyCache* dkim_keys = nullptr;  // null: no signing
  std::string hostname;           // Received header, Message-ID domain
  std::string tracking_secret;    // >= 16 bytes; "" disables tracking
  std::string public_url;         // base of /t/ links ("https://tern.example.com")
  // Called once per durable message (engine, message log). Any thread.
  std::function<void(const queue::QueuedMessage&)> on_accepted;
};

struct SubmitRequest {
  // The sending account; null for Tern's own mail (sender verification), which skips the
  // sender and header checks and the account's Mail-From/CC/BCC.
  std::shared_ptr<const policy::AccountContext> account;
  std::string sender;                   // envelope sender (must be authorized)
  std::vector<std::string> recipients;  // envelope recipients, deduplicated by submit()
  std::string message;                  // complete RFC 5322 message, CRLF line ends
  policy::MessageOptions options;       // already merged over the account defaults
  std::string client_ip;                // for the Received header
  std::string via = "HTTP";             // "with" of the Received header
  bool smtputf8 = false;
  bool eightbit = false;
  // Set by the SMTP path, whose session already fixed the header (Received, Message-ID, Date,
  // X-IB-* removed) and checked the policy: skip those steps.
  bool header_final = false;
  std::string queue_id;  // "" = choose one
};

struct SubmittedRecipient {
  std::string to;
  std::string message_id;  // per-recipient id (store::make_message_id)
  std::string queue_id;
};

struct SubmitResult {
  std::string bulk_id;
  std::vector<SubmittedRecipient> recipients;  // in envelope order (account CC/BCC included)
};

class Submission {
 public:
  explicit Submission(SubmissionServices svc);
  ~Submission();
  // Permanent errors: policy refusals ("550 5.7.1 Sender not authorized: a@b"), malformed
  // messages (the sender policy's with reason sender_not_authorized); temporary: spool
  // failures (code disk_full when the disk is full, else unavailable).
  core::Result<SubmitResult> submit(SubmitRequest req);

  // Whether a message with these options is rewritten per recipient (open/click tracking):
  // a tracking URL, a tracking key and a public URL. The one predicate the SMTP driver asks
  // before keeping a message whole instead of streaming it to the spool.
  bool tracks(const policy::MessageOptions& options) const;

  // Messages made durable here since start: one per stored copy (a tracked submission stores
  // one per recipient), also the copies of a submission that failed later. For
  // tern_messages_accepted_total, with the SMTP driver's streamed messages.
  uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }

 private:
  SubmissionServices svc_;
  std::atomic<uint64_t> accepted_{0};
};

}  // namespace tern::pipeline
