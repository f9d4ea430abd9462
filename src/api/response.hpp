// JSON responses of the HTTP surface: success bodies and the one error shape
// {"error":{"code","message"}} (codes: bad_request, unauthorized, forbidden, not_found, conflict,
// method_not_allowed, payload_too_large, unprocessable, internal, unavailable).
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "net/http_server.hpp"

namespace tern::api {

net::HttpResponse json_response(int status, const nlohmann::json& body);
net::HttpResponse error_response(int status, const std::string& code, const std::string& message);

}  // namespace tern::api
