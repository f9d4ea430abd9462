// JSON views of store rows as the API shows them (camelCase keys, ISO-8601 UTC times), shared by
// the resource files so an account or a sender looks the same everywhere.
#pragma once
#include <nlohmann/json.hpp>

#include "store/store.hpp"

namespace tern::api {

nlohmann::json account_json(const store::Account& a);
nlohmann::json sender_json(const store::Sender& s);

}  // namespace tern::api
