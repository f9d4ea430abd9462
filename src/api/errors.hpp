// The one mapping of core::Error onto HTTP answers (docs/api.md "Errors"). Handlers never pick a
// status for a failed call themselves: they hand the error here.
//   reason sender_not_authorized → 400 sender_not_authorized   reason quota_exceeded → 403
//   invalid → 400 bad_request    not_found → 404    conflict → 409    forbidden → 403
//   unavailable, disk_full (and anything temporary) → 503 unavailable, a generic text
//   corrupt, internal → 500 internal, a generic text naming a reference id
// Invariants: the text of a temporary, corrupt or internal error never reaches the client (it
// may name files, SQL or another tenant's data): it is logged, with the reference id the client
// sees for 500s, so an operator can find it. Other codes answer the error's own text, which the
// store and the services write for the account that asked.
#pragma once
#include <string_view>

#include "core/result.hpp"
#include "net/http_server.hpp"

namespace tern::api {

struct HttpErrorKind {
  int status;
  std::string_view code;  // the JSON error code
};

// Status and JSON code for an error (pure; the table above).
HttpErrorKind http_error_kind(const core::Error& e);

// The answer for an error: error_response with http_error_kind, the text or a generic one;
// logs what must not be shown.
net::HttpResponse from_error(const core::Error& e);

}  // namespace tern::api
