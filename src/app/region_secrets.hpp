// Secrets every node of a region must share (CLUSTER.md decision 6, docs/cluster.md): the
// operator token (a script's token works on any node behind the load balancer) and the
// tracking key (a click link signed by one node verifies on another). Kept in the region's
// cluster_secrets, hex-encoded and sealed with the master key (every node has the same one);
// the first node to start offers its own file's value, every later node adopts the stored one
// and rewrites its local file (0600) to match, so <data>/admin.token stays the token to use.
// Invariants: a stored value that cannot be opened (no master key, or another one) stops the
// node at start (std::runtime_error), never a silent second token; names are fixed strings.
#pragma once
#include <string>
#include <string_view>

#include "store/cluster.hpp"
#include "store/sealer.hpp"

namespace tern::app {

constexpr std::string_view kSecretOperatorToken = "operator_token";
constexpr std::string_view kSecretTrackingKey = "tracking_key";

// The region's value of name, offering local when none is stored yet.
std::string region_secret(store::Cluster& cluster, const store::Sealer& sealer,
                          std::string_view name, const std::string& local, int64_t now_ms);

// region_secret, and the file at path (this node's copy, text or bytes) rewritten when it held
// another value; *replaced tells whether it did.
std::string adopt_region_secret(store::Cluster& cluster, const store::Sealer& sealer,
                                std::string_view name, const std::string& path,
                                const std::string& local, bool text, bool* replaced = nullptr);

}  // namespace tern::app
