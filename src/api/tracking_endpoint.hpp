// GET /t/o/<token> (open pixel) and GET /t/c/<token> (click redirect), issue 5. A token that
// does not verify (tracking::verify_token) is 404, so the endpoint is never an open redirect.
// A valid one records an "opened"/"clicked" event for the recipient and enqueues a tracking
// event for the message's tracking URL (outbox kind "tracking"): type, messageId, bulkId,
// recipient, url, time, userAgent, ip, callbackData. The pixel is a 43-byte transparent GIF
// with Cache-Control: no-store; the click answers 302 to the URL inside the token.
#pragma once
#include "api/api.hpp"

namespace tern::api {

net::HttpResponse handle_tracking(const ApiServices& svc, const net::HttpRequest& req);

}  // namespace tern::api
