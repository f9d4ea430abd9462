// Opaque page cursors of the newer list queries (captured mail, webhook history): base64url
// (no padding) of "<tag><number>:<text>", the sort key of a page's last row. Pure.
// Invariants: decode accepts exactly what encode makes for that tag (strict alphabet, decimal
// number, text 1..256 bytes, whole cursor at most 512 bytes); anything else is nullopt.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tern::store {

std::string encode_cursor(std::string_view tag, int64_t number, std::string_view text);
std::optional<std::pair<int64_t, std::string>> decode_cursor(std::string_view tag,
                                                             std::string_view cursor);

}  // namespace tern::store
