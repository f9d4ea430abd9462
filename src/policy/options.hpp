// Per-message options carried in X-IB-* header fields (seed 001): parsed, validated, merged
// over the account defaults. The session removes every X-IB-* field from the message (they
// are instructions to us, not content for recipients), including ones we do not know, which
// are otherwise ignored.
//
// Known fields: X-IB-bulk-id, X-IB-tracking-url, X-IB-intermediate-report (true|false),
// X-IB-notify-url, X-IB-notify-content-type (application/json|application/xml),
// X-IB-callback-data. Names match case-insensitively. A field given twice, or an invalid value,
// is rejected with "550 5.6.0 Invalid <canonical name> header: <reason>"; every value must be
// valid UTF-8 ("must be valid UTF-8": Latin-1 bytes are refused, not guessed at).
// URLs must be absolute http or https URLs with a host and no whitespace or control chars.
#pragma once
#include <set>
#include <string>
#include <string_view>

#include "core/status.hpp"
#include "policy/account_context.hpp"

namespace tern::policy {

bool is_option_header(std::string_view name);  // any X-IB-* field
bool is_http_url(std::string_view url);

// Applies one X-IB-* field (value already unfolded). `seen` tracks canonical names for the
// duplicate check. canonical: the field's canonical name (null for an unknown X-IB-* field,
// which is ignored); problem: null when applied, else why the value is refused
// ("must be an http(s) URL").
struct OptionVerdict {
  const char* canonical = nullptr;
  const char* problem = nullptr;
};
OptionVerdict set_option(MessageOptions& opts, std::set<std::string>& seen, std::string_view name,
                         std::string_view value);
// set_option as an SMTP verdict: 250, or "550 5.6.0 Invalid <canonical> header: <problem>".
core::Status apply_option(MessageOptions& opts, std::set<std::string>& seen, std::string_view name,
                          std::string_view value);

// The options as stored with a queued message and in the message log (QueuedMessage::
// options_json): {"bulkId","trackingUrl","notifyUrl","notifyContentType","callbackData",
// "intermediateReport"}, empty strings left out.
std::string to_json(const MessageOptions& o);
// Inverse of to_json; unknown keys are ignored, malformed JSON gives the defaults.
MessageOptions options_from_json(std::string_view json);

}  // namespace tern::policy
