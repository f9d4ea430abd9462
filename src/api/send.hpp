// POST /api/v1/messages (issue 5): a JSON message → an RFC 5322 message (message::compose) →
// pipeline::Submission, the same policy and storage as SMTP. Answers 200 with
// {"bulkId","messages":[{"to","messageId","status":{...PENDING}}]} or a JSON error (400 for
// bad JSON, a missing field, bad base64, or CR/LF/NUL in any field that reaches a header or the
// envelope; 403-free: a sender the account may not use is 400 "sender_not_authorized";
// 503 when the spool cannot take it).
#pragma once
#include <cstdint>

#include "api/api.hpp"

namespace tern::api {

net::HttpResponse handle_send(const ApiServices& svc, int64_t account_id,
                              const net::HttpRequest& req);

}  // namespace tern::api
