#include "api/response.hpp"

#include <nlohmann/json.hpp>

namespace tern::api {

net::HttpResponse json_response(int status, const nlohmann::json& body) {
  // Replace invalid UTF-8 instead of throwing: stored remote text must never break a response.
  return {status, "application/json",
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

net::HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  nlohmann::json j;
  j["error"] = {{"code", code}, {"message", message}};
  auto r = json_response(status, j);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace tern::api
