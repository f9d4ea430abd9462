// Strict base64 (RFC 4648 §4, padded) for SMTP AUTH (RFC 4954): bad input is an error, never
// silently skipped.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace tern::core {

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace tern::core
