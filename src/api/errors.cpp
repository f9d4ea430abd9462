#include "api/errors.hpp"

#include <spdlog/spdlog.h>

#include <string>

#include "api/response.hpp"
#include "core/ids.hpp"

namespace tern::api {

HttpErrorKind http_error_kind(const core::Error& e) {
  using core::ErrorCode;
  switch (e.reason) {
    case core::ErrorReason::sender_not_authorized:
      return {400, "sender_not_authorized"};
    case core::ErrorReason::quota_exceeded:
      return {403, "quota_exceeded"};
    case core::ErrorReason::none:
      break;
  }
  if (e.temporary) return {503, "unavailable"};
  switch (e.code) {
    case ErrorCode::invalid:
      return {400, "bad_request"};
    case ErrorCode::not_found:
      return {404, "not_found"};
    case ErrorCode::conflict:
      return {409, "conflict"};
    case ErrorCode::forbidden:
      return {403, "forbidden"};
    case ErrorCode::unavailable:
    case ErrorCode::disk_full:
      return {503, "unavailable"};
    case ErrorCode::corrupt:
    case ErrorCode::internal:
      break;
  }
  return {500, "internal"};
}

net::HttpResponse from_error(const core::Error& e) {
  const HttpErrorKind k = http_error_kind(e);
  if (k.status == 503) {
    spdlog::warn("api: {} ({})", e.message, core::to_string(e.code));
    return error_response(503, std::string(k.code), "temporarily unavailable; try again later");
  }
  if (k.status == 500) {
    const std::string ref = core::random_hex(6);
    spdlog::error("api: internal error {}: {} ({})", ref, e.message, core::to_string(e.code));
    return error_response(500, "internal", "internal error (reference " + ref + ")");
  }
  return error_response(k.status, std::string(k.code), e.message);
}

}  // namespace tern::api
