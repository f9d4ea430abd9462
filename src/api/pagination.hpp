// Cursor pagination of list endpoints: ?limit= (1..1000, default 50) and ?cursor= (opaque,
// from the previous page's nextCursor). Lists the store returns whole are paged here by a sort
// key: a page holds the items whose key is greater than the cursor's, so items added or removed
// between pages never shift the ones after them. The cursor is the hex of the last key.
// Answer shape: {"items":[...],"nextCursor":"..." or null on the last page}.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "net/http_server.hpp"

namespace tern::api {

struct PageRequest {
  size_t limit = 50;
  std::string cursor;  // as given ("" = first page)
};

// Errors (permanent → 400): limit not an integer in 1..1000; cursor not one of ours.
core::Result<PageRequest> page_request(const net::HttpRequest& req);

// Items with their sort keys (any order); the page of those after the cursor, sorted by key.
core::Result<nlohmann::json> page_of(std::vector<std::pair<std::string, nlohmann::json>> keyed,
                                     const PageRequest& page);

}  // namespace tern::api
