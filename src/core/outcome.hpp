// The outcome of one delivery attempt for one recipient (SPEC §4): what happened, the remote
// reply when there was one, where it happened (phase, MX host) and whether the session ran
// over TLS. The delivery engine records one per attempt ("ready for the reports issue") and the
// retry schedule (queue/retry.hpp) turns it into the recipient's next state.
//
// Invariants:
// - `kind` is the verdict and is authoritative; `code` is evidence. Built through from_reply(),
//   kind agrees with the code: 2xx delivered, 5xx perm, everything else temp (4xx, and also
//   1xx/3xx/out-of-range codes: a protocol violation by the peer is worth a retry, never a
//   bounce and never a "delivered").
// - code == 0 means there was no SMTP reply: a network error, a DNS failure or a local
//   decision. Those outcomes come from local(); a bounce notice (RFC 3464 §2.3.6) then carries
//   no Diagnostic-Code, only the enhanced status.
// - `enhanced` is an RFC 3463 status "class.subject.detail" whose class matches the kind when we
//   make it up; a remote's own enhanced code is kept as it sent it (RFC 2034 §3 is advisory).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tern::core {

// Where an outcome arose. Stored and reported by name ("data-end": the reply to the final dot);
// none = not known or not a delivery step (events that are not attempts).
enum class Phase : uint8_t {
  none,
  dns,
  connect,
  greeting,
  ehlo,
  starttls,
  auth,
  mail,
  rcpt,
  data,
  data_end,
  quit,
  local,
};

inline constexpr std::array<Phase, 13> kPhases = {
    Phase::none,     Phase::dns,  Phase::connect, Phase::greeting, Phase::ehlo,
    Phase::starttls, Phase::auth, Phase::mail,    Phase::rcpt,     Phase::data,
    Phase::data_end, Phase::quit, Phase::local};

constexpr std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::none:
      return "";
    case Phase::dns:
      return "dns";
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
    case Phase::data_end:
      return "data-end";
    case Phase::quit:
      return "quit";
    case Phase::local:
      return "local";
  }
  return "";
}

// parse_phase(to_string(p)) == p; anything else is nullopt.
constexpr std::optional<Phase> parse_phase(std::string_view s) {
  for (Phase p : kPhases)
    if (to_string(p) == s) return p;
  return std::nullopt;
}

struct DeliveryOutcome {
  enum Kind { delivered, temp, perm };

  Kind kind = temp;
  int code = 0;               // remote SMTP reply code; 0 = no reply (network, DNS, local)
  std::string enhanced;       // RFC 3463, e.g. "5.1.1"; may be empty for a remote without it
  std::string text;           // reply text (lines joined by ' ') or the local reason
  Phase phase = Phase::none;  // where it arose
  std::string mx_host;        // the host that answered (or failed); empty before one was chosen
  bool tls = false;           // the session was encrypted when the outcome arose
  std::string local_ip = {};  // our address on the connection that produced it ("" without one):
                              // the report's sendingIp

  // Verdict from a remote reply (RFC 5321 §4.2.1: the first digit decides).
  static DeliveryOutcome from_reply(int code, std::string enhanced, std::string text, Phase phase,
                                    std::string mx_host = {}, bool tls = false) {
    Kind k = temp;
    if (code >= 200 && code <= 299)
      k = delivered;
    else if (code >= 500 && code <= 599)
      k = perm;
    return {k, code, std::move(enhanced), std::move(text), phase, std::move(mx_host), tls, {}};
  }

  // A connection that failed, timed out or broke mid-session: always temporary (RFC 5321
  // §4.5.4.1 wants such mail queued and retried). RFC 3463: 4.4.1 no answer from host,
  // 4.4.2 bad connection (dropped after it was established).
  static DeliveryOutcome network(std::string text, Phase phase, std::string mx_host = {},
                                 std::string enhanced = "4.4.1", bool tls = false) {
    return {temp, 0, std::move(enhanced), std::move(text), phase, std::move(mx_host), tls, {}};
  }

  // A verdict reached without a remote reply (DNS answers, suppression, local limits).
  static DeliveryOutcome local(Kind k, std::string enhanced, std::string text,
                               Phase phase = Phase::local) {
    return {k, 0, std::move(enhanced), std::move(text), phase, {}, false, {}};
  }

  bool is_delivered() const { return kind == delivered; }
  bool is_temp() const { return kind == temp; }
  bool is_perm() const { return kind == perm; }

  // One line for Recipient::last_reply and logs: "550 5.1.1 text" for a reply,
  // "4.4.1 text" without one; " (host)" appended when the host is known. The text is the
  // remote's: control characters (CR, LF, NUL...) become spaces so the line stays one line
  // wherever it is shown or stored.
  std::string summary() const {
    std::string s;
    if (code != 0) {
      s += std::to_string(code);
      s += ' ';
    }
    if (!enhanced.empty()) {
      s += enhanced;
      s += ' ';
    }
    s += text;
    if (!mx_host.empty()) {
      s += " (";
      s += mx_host;
      s += ')';
    }
    for (char& c : s)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return s;
  }
};

}  // namespace tern::core
