// Reading an HTTP request of the REST API: path segments (percent-decoded), query parameters,
// the JSON body, and times in and out (ISO-8601 UTC or Unix milliseconds). Pure.
// Invariants: a malformed percent-escape, query or body is an error value, never an exception;
// decoded text is returned as is (callers validate it; error messages quote at most 80 bytes).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "net/http_server.hpp"

namespace tern::api {

// "%41b" -> "Ab"; '+' stays '+' in paths. nullopt for a bad escape ("%4", "%zz").
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

// "/a/b%2Fc/" -> {"a", "b/c"} (one trailing slash ignored); nullopt when an escape is bad or a
// segment in the middle is empty.
std::optional<std::vector<std::string>> split_path(std::string_view path);

// The first value of a query parameter, decoded; nullopt when absent. Error for bad escapes.
core::Result<std::optional<std::string>> query_param(const net::HttpRequest& req,
                                                     std::string_view name);

// The body as a JSON object. Errors: empty body, malformed JSON, not an object.
core::Result<nlohmann::json> json_object_body(const net::HttpRequest& req);

// A string member of a JSON object: nullopt when absent or null; error when another type.
core::Result<std::optional<std::string>> string_member(const nlohmann::json& obj,
                                                       const std::string& name);

// "2026-11-22T10:00:00.000Z".
std::string iso_time(int64_t unix_ms);
// ISO-8601 UTC ("2026-11-22T10:00:00Z", fractional seconds and "+hh:mm" offsets accepted) or
// Unix milliseconds ("1795348800000"). nullopt otherwise.
std::optional<int64_t> parse_time(std::string_view s);

// At most 80 bytes of s, for error messages (never the whole of a hostile input).
std::string quote_short(std::string_view s);

}  // namespace tern::api
