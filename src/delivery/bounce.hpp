// Bounce notices (SPEC §4): an RFC 3464 delivery status notification, built as a complete
// message. Pure: the engine gathers what failed and spools the result like any message (null
// envelope sender, so a bounce can never cause another bounce).
//
// Shape (RFC 3464 §2, RFC 6522 multipart/report):
//   From: Mail Delivery System <MAILER-DAEMON@reporting_mta>, To: the original envelope sender,
//   Subject: "Undelivered Mail Returned to Sender", Date, Message-ID, Auto-Submitted:
//   auto-replied (RFC 3834), MIME-Version: 1.0,
//   Content-Type: multipart/report; report-type=delivery-status; boundary=...
//   1. text/plain: a human explanation naming each failed recipient and the remote reply;
//   2. message/delivery-status: per-message fields (Reporting-MTA: dns; host, X-Tern-Queue-ID,
//      Arrival-Date) and one per-recipient block (Final-Recipient: rfc822; addr, Action:
//      failed, Status, Remote-MTA: dns; host when known, Diagnostic-Code: smtp; <reply> when
//      the remote replied, Last-Attempt-Date);
//   3. text/rfc822-headers: the original header section.
// Invariants: CRLF line ends only; every line at most 998 octets (long remote replies are
// folded/truncated); remote text is reduced to printable US-ASCII (a hostile reply cannot add
// header lines or MIME parts); the boundary does not occur in the content; output is 7-bit.
// Reduction: controls become spaces in prose and '?' in addresses/hosts/ids, bytes >= 0x80
// become '?' (no RFC 6533 UTF-8 notices), the original's header lines likewise and cut at 990.
// A Status that is not "4.x.x"/"5.x.x" is reported as 5.0.0 (4.4.7 when expired); a
// Diagnostic-Code needs a reply code 100..999.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/outcome.hpp"

namespace tern::delivery {

struct FailedRecipient {
  std::string address;
  std::string status;      // RFC 3463, "5.1.1"; expired: "4.4.7" class kept as the last error's
  std::string remote_mta;  // MX or relay host; "" when none answered
  int code = 0;            // remote reply code; 0 = no remote reply (no Diagnostic-Code)
  std::string text;        // remote reply text or local reason
  bool expired = false;    // gave up after retries (wording: "delivery time expired")
  int64_t last_attempt_ms = 0;
};

struct BounceInput {
  std::string reporting_mta;        // our hostname
  std::string to;                   // the original envelope sender
  std::string queue_id;             // original queue id
  std::string original_message_id;  // may be empty
  int64_t arrival_ms = 0;
  int64_t now_ms = 0;
  std::vector<FailedRecipient> recipients;  // at least one
  std::string original_headers;             // original header section (CRLF); bounded by the caller
  std::string message_id;                   // Message-ID of the notice, "<...>"
};

// The complete notice, ready to spool; "" when no notice is due: the original sender is
// null ("" or "<>", RFC 5321 §4.5.5) or there are no recipients to report.
std::string build_bounce(const BounceInput& in);

// The original's header section from the start of its stored bytes: up to and including the
// empty line (or the first max bytes, cut at a line end).
std::string header_section_of(std::string_view stored, size_t max = 64 * 1024);

// A hard bounce puts the recipient on the suppression list: a permanent remote reply to RCPT
// (the mailbox does not exist or is refused), or a permanent outcome with an RFC 3463 address
// status (5.1.x: bad mailbox, bad domain, null MX). Message-level refusals (5.3.4 too big,
// 5.7.x content policy) and expiry are not hard bounces: the address may well work.
// Precisely: only phases rcpt, data, data-end, dns and local count (MAIL and the session
// phases are about us); a 5.1.x status is hard except 5.1.7/5.1.8 (the *sender's* address),
// and 5.2.1 (mailbox disabled); 5.0.0 or no/malformed status is hard only as 550/551/553 to
// RCPT; a status class other than 5, or a reply code that is not 5xx, is never hard.
bool is_hard_bounce(int code, const std::string& enhanced, core::Phase phase);

}  // namespace tern::delivery
