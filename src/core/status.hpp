// SMTP-shaped status: reply code, enhanced status code (RFC 3463) and text.
// Used for replies, policy verdicts and delivery outcomes alike, so every module speaks one
// vocabulary and every error says whether it is temporary (4xx) or permanent (5xx).
#pragma once
#include <string>

namespace tern::core {

enum class Severity { ok, temporary, permanent };

struct Status {
  int code = 250;
  std::string enhanced;  // "2.0.0"; empty where none applies (greeting, 354)
  std::string text;

  Severity severity() const {
    if (code >= 500) return Severity::permanent;
    if (code >= 400) return Severity::temporary;
    return Severity::ok;
  }
  bool ok() const { return code < 400; }
  bool temporary() const { return severity() == Severity::temporary; }
  bool permanent() const { return severity() == Severity::permanent; }
  // "250 2.0.0 text" (no CRLF).
  std::string line() const {
    std::string s = std::to_string(code);
    s += ' ';
    if (!enhanced.empty()) {
      s += enhanced;
      s += ' ';
    }
    s += text;
    return s;
  }
};

}  // namespace tern::core
