// Bounce notices: see bounce.hpp for the shape. Every caller-supplied or remote string passes
// through one of two reducers before it is written (clean_text for prose, clean_token for
// addresses, hosts and ids), so whatever they contain the output stays 7-bit printable ASCII
// with CRLF line ends, and each value is bounded so no line can reach 998 octets even before
// folding. The boundary is chosen after the parts are built and re-drawn until it occurs in
// none of them.
#include "delivery/bounce.hpp"

#include <algorithm>
#include <optional>

#include "message/date.hpp"

namespace tern::delivery {

namespace {

constexpr size_t kMaxText = 900;        // remote reply or local reason, after cleaning
constexpr size_t kMaxAddress = 512;     // recipient, sender
constexpr size_t kMaxHost = 255;        // reporting MTA, remote MTA
constexpr size_t kMaxId = 255;          // queue id, message ids
constexpr size_t kMaxHeaderLine = 990;  // original header lines are cut here
constexpr size_t kMaxOriginal = 64 * 1024;
constexpr size_t kFoldAt = 76;

// Prose: controls (CR, LF, NUL, TAB...) become spaces, runs of spaces collapse, non-ASCII
// bytes become '?', the ends are trimmed, and anything past max is cut with "...".
std::string clean_text(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max + 3));
  for (unsigned char c : s) {
    char x;
    if (c < 0x20 || c == 0x7f)
      x = ' ';
    else if (c >= 0x80)
      x = '?';
    else
      x = static_cast<char>(c);
    if (x == ' ' && (out.empty() || out.back() == ' ')) continue;
    if (out.size() == max) {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += "...";
      return out;
    }
    out += x;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// One word (address, host name, id): every byte outside '!'..'~' becomes '?', cut at max.
std::string clean_token(std::string_view s, size_t max) {
  std::string out;
  for (unsigned char c : s.substr(0, max))
    out += (c > 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return out;
}

// "5.1.1": class 4 or 5 (this is a failure report), subject and detail of 1-3 digits.
bool valid_failure_status(std::string_view s) {
  size_t i = 0;
  if (s.empty() || (s[0] != '4' && s[0] != '5')) return false;
  i = 1;
  for (int part = 0; part < 2; ++part) {
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start || i - start > 3) return false;
  }
  return i == s.size();
}

// Appends `text` as lines of at most kFoldAt characters where spaces allow; continuation
// lines start with `indent` (a space for a header-style field, which is RFC 5322 folding).
// The text is clean and bounded, so a word that cannot be broken still fits in 998.
void append_folded(std::string& out, std::string_view text, std::string_view indent) {
  while (!text.empty()) {
    if (text.size() <= kFoldAt) {
      out += text;
      break;
    }
    size_t cut = text.rfind(' ', kFoldAt);
    if (cut == std::string_view::npos || cut == 0) {
      cut = text.find(' ');
      if (cut == std::string_view::npos) {
        out += text;
        break;
      }
    }
    out += text.substr(0, cut);
    out += "\r\n";
    out += indent;
    text.remove_prefix(cut + 1);
  }
  out += "\r\n";
}

std::string date_of(int64_t ms) {
  int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  return message::rfc5322_date(s);
}

// "550 5.1.1 text". The status is shown only when it can be the remote's own (same class as
// the code, not the made-up expiry status), so the line reads as the reply that was received.
std::string diagnostic(const FailedRecipient& r) {
  std::string d = std::to_string(r.code);
  if (!r.expired && valid_failure_status(r.status) && r.status[0] == d[0]) {
    d += ' ';
    d += r.status;
  }
  std::string text = clean_text(r.text, kMaxText);
  if (!text.empty()) {
    d += ' ';
    d += text;
  }
  return d;
}

bool has_reply(const FailedRecipient& r) { return r.code >= 100 && r.code <= 999; }

std::string status_of(const FailedRecipient& r) {
  if (valid_failure_status(r.status)) return r.status;
  return r.expired ? "4.4.7" : "5.0.0";
}

std::string human_part(const BounceInput& in, const std::string& mta) {
  std::string out;
  auto para = [&](std::string_view text) {
    append_folded(out, text, "");
    out += "\r\n";
  };
  para("This is the mail system at host " + mta + ".");
  para(
      "Your message could not be delivered to one or more of its recipients. This notice "
      "was written automatically; the details follow, and the delivery report and the "
      "headers of your message are attached.");
  std::string queue_id = clean_token(in.queue_id, kMaxId);
  std::string about = "Queue ID: " + (queue_id.empty() ? std::string("(none)") : queue_id);
  if (!in.original_message_id.empty())
    about += "; Message-ID: " + clean_token(in.original_message_id, kMaxId);
  para(about);
  for (const auto& r : in.recipients) {
    std::string line = "<" + clean_token(r.address, kMaxAddress) + ">: ";
    std::string text = clean_text(r.text, kMaxText);
    if (r.expired) line += "delivery time expired; we gave up after repeated attempts. ";
    std::string host = clean_token(r.remote_mta, kMaxHost);
    if (has_reply(r)) {
      line += r.expired ? "The last attempt: host " : "host ";
      line += host.empty() ? std::string("(unknown)") : host;
      line += " said: " + diagnostic(r);
    } else {
      line += r.expired ? "The last error: " : "";
      line += text.empty() ? std::string("delivery failed") : text;
      line += " (status " + status_of(r) + ")";
      if (!host.empty()) line += " at host " + host;
    }
    para(line);
  }
  return out;
}

std::string report_part(const BounceInput& in, const std::string& mta) {
  std::string out;
  out += "Reporting-MTA: dns; " + mta + "\r\n";
  std::string queue_id = clean_token(in.queue_id, kMaxId);
  if (!queue_id.empty()) out += "X-Tern-Queue-ID: " + queue_id + "\r\n";
  if (in.arrival_ms != 0) out += "Arrival-Date: " + date_of(in.arrival_ms) + "\r\n";
  for (const auto& r : in.recipients) {
    out += "\r\n";
    std::string addr = clean_token(r.address, kMaxAddress);
    out += "Final-Recipient: rfc822; " + (addr.empty() ? std::string("unknown") : addr) + "\r\n";
    out += "Action: failed\r\n";
    out += "Status: " + status_of(r) + "\r\n";
    std::string host = clean_token(r.remote_mta, kMaxHost);
    if (!host.empty()) out += "Remote-MTA: dns; " + host + "\r\n";
    if (has_reply(r)) append_folded(out, "Diagnostic-Code: smtp; " + diagnostic(r), " ");
    if (r.last_attempt_ms != 0) out += "Last-Attempt-Date: " + date_of(r.last_attempt_ms) + "\r\n";
  }
  return out;
}

// The original header section as text/rfc822-headers content: CRLF lines, no empty lines (the
// section's terminator is dropped), each line 7-bit printable (TAB kept) and cut at
// kMaxHeaderLine.
std::string headers_part(std::string_view original) {
  original = original.substr(0, kMaxOriginal);
  std::string out;
  while (!original.empty()) {
    size_t nl = original.find('\n');
    std::string_view line = original.substr(0, nl);
    original.remove_prefix(nl == std::string_view::npos ? original.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    std::string clean;
    for (unsigned char c : line.substr(0, kMaxHeaderLine)) {
      if (c == '\t' || (c >= 0x20 && c < 0x7f))
        clean += static_cast<char>(c);
      else
        clean += '?';
    }
    out += clean;
    out += "\r\n";
  }
  return out;
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex(uint64_t v) {
  static const char* const kHex = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = kHex[v & 15];
  return s;
}

}  // namespace

std::string build_bounce(const BounceInput& in) {
  std::string to = clean_token(in.to, kMaxAddress);
  // RFC 5321 §4.5.5 / RFC 3464 §2: no notice to a null sender; nothing to report without
  // recipients. "" tells the caller no notice is due.
  if (to.empty() || to == "<>" || in.recipients.empty()) return {};
  for (char& c : to)
    if (c == '<' || c == '>') c = '?';

  std::string mta = clean_token(in.reporting_mta, kMaxHost);
  if (mta.empty()) mta = "localhost";

  std::string human = human_part(in, mta);
  std::string report = report_part(in, mta);
  std::string headers = headers_part(in.original_headers);

  // Deterministic per notice; redrawn on the (hostile or unlucky) chance that it occurs in a
  // part. Content is printable ASCII, so "=_" never starts a line of quoted-printable, and the
  // check covers every line wherever it appears.
  uint64_t seed = fnv1a(fnv1a(0xcbf29ce484222325ULL, in.queue_id), std::to_string(in.now_ms));
  std::string boundary;
  for (uint64_t n = 0;; ++n) {
    boundary = "=_tern-dsn-" + hex(fnv1a(seed, std::to_string(n)));
    if (human.find(boundary) == std::string::npos && report.find(boundary) == std::string::npos &&
        headers.find(boundary) == std::string::npos)
      break;
  }

  std::string message_id = clean_token(in.message_id, kMaxId);
  if (message_id.size() < 3 || message_id.front() != '<' || message_id.back() != '>')
    message_id = "<" + hex(seed) + ".dsn@" + mta + ">";

  std::string out;
  out.reserve(human.size() + report.size() + headers.size() + 1024);
  out += "From: Mail Delivery System <MAILER-DAEMON@" + mta + ">\r\n";
  out += "To: <" + to + ">\r\n";
  out += "Subject: Undelivered Mail Returned to Sender\r\n";
  out += "Date: " + date_of(in.now_ms) + "\r\n";
  out += "Message-ID: " + message_id + "\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  out += "\tboundary=\"" + boundary + "\"\r\n";
  out += "\r\n";
  out += "This is a MIME-encapsulated delivery status notification.\r\n";
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: text/plain; charset=us-ascii\r\n";
  out += "Content-Description: Notification\r\n\r\n";
  out += human;
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: message/delivery-status\r\n";
  out += "Content-Description: Delivery report\r\n\r\n";
  out += report;
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: text/rfc822-headers\r\n";
  out += "Content-Description: Undelivered message headers\r\n\r\n";
  out += headers;
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

std::string header_section_of(std::string_view stored, size_t max) {
  size_t last_end = 0;  // end of the last complete line within max
  size_t pos = 0;
  while (pos < stored.size()) {
    size_t nl = stored.find('\n', pos);
    if (nl == std::string_view::npos) break;  // an unterminated tail is not a line
    size_t end = nl + 1;
    if (end > max) break;
    std::string_view line = stored.substr(pos, end - pos);
    last_end = end;
    if (line == "\r\n" || line == "\n") break;  // the empty line ends the section
    pos = end;
  }
  return std::string(stored.substr(0, last_end));
}

namespace {

struct Enhanced {
  int cls = 0, subject = 0, detail = 0;
};

std::optional<Enhanced> parse_enhanced(std::string_view s) {
  Enhanced e;
  int* parts[3] = {&e.cls, &e.subject, &e.detail};
  size_t i = 0;
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (i >= s.size() || s[i] != '.') return std::nullopt;
      ++i;
    }
    size_t start = i;
    int v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (s[i++] - '0');
    if (i == start) return std::nullopt;
    *parts[p] = v;
  }
  if (i != s.size() || e.cls < 2 || e.cls > 5) return std::nullopt;
  return e;
}

}  // namespace

bool is_hard_bounce(int code, const std::string& enhanced, core::Phase phase) {
  using core::Phase;
  // Only outcomes about the recipient address itself. Session-level phases (connect, greeting,
  // ehlo, starttls, auth) and MAIL (about our sender) say nothing about the address.
  if (phase != Phase::rcpt && phase != Phase::data && phase != Phase::data_end &&
      phase != Phase::dns && phase != Phase::local)
    return false;
  if (code != 0 && (code < 500 || code > 599)) return false;  // not permanent
  auto st = parse_enhanced(enhanced);
  if (st) {
    if (st->cls != 5) return false;  // a 4.x.x or 2.x.x status is not a permanent verdict
    // X.1.x address status, except X.1.7/X.1.8 which are about the sender's address.
    if (st->subject == 1) return st->detail != 7 && st->detail != 8;
    if (st->subject == 2 && st->detail == 1) return true;  // mailbox disabled
    // 5.0.0 "other" from RCPT is how some servers say "no such user".
    if (st->subject == 0 && st->detail == 0)
      return phase == Phase::rcpt && (code == 550 || code == 551 || code == 553);
    return false;  // 5.2.2 full, 5.3.x system, 5.4.x routing, 5.5.x protocol, 5.6/5.7 policy
  }
  // No (valid) enhanced status: only a remote 550/551/553 to RCPT names the mailbox.
  return phase == Phase::rcpt && (code == 550 || code == 551 || code == 553);
}

}  // namespace tern::delivery
