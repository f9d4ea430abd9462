#include "store/node_commands.hpp"

#include <algorithm>

namespace tern::store {

core::Result<int64_t> MemoryNodeCommands::enqueue(const NodeCommand& c) {
  if (c.node_id.empty() || c.command.empty())
    return core::Error::invalid("node command: a node and a command");
  std::lock_guard lk(mu_);
  NodeCommand row = c;
  row.id = next_id_++;
  row.state = "pending";
  row.result.clear();
  row.done_ms = 0;
  rows_.push_back(std::move(row));
  return rows_.back().id;
}

core::Result<std::vector<NodeCommand>> MemoryNodeCommands::pending(std::string_view node_id,
                                                                   size_t limit) {
  std::lock_guard lk(mu_);
  std::vector<NodeCommand> out;
  for (const auto& r : rows_) {
    if (out.size() >= limit) break;
    if (r.node_id == node_id && r.state == "pending") out.push_back(r);
  }
  return out;
}

core::Result<bool> MemoryNodeCommands::finish(int64_t id, std::string_view state,
                                              std::string_view result, int64_t now_ms) {
  std::lock_guard lk(mu_);
  for (auto& r : rows_)
    if (r.id == id) {
      if (r.state != "pending") return false;
      r.state = std::string(state);
      r.result = std::string(result);
      r.done_ms = now_ms;
      return true;
    }
  return false;
}

core::Result<std::optional<NodeCommand>> MemoryNodeCommands::get(int64_t id) {
  std::lock_guard lk(mu_);
  for (const auto& r : rows_)
    if (r.id == id) return std::optional<NodeCommand>(r);
  return std::optional<NodeCommand>();
}

core::Result<size_t> MemoryNodeCommands::expire(std::string_view node_id, int64_t before_ms,
                                                int64_t now_ms) {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& r : rows_)
    if (r.node_id == node_id && r.state == "pending" && r.created_ms < before_ms) {
      r.state = "expired";
      r.done_ms = now_ms;
      ++n;
    }
  return n;
}

core::Result<size_t> MemoryNodeCommands::trim(int64_t before_ms) {
  std::lock_guard lk(mu_);
  const size_t before = rows_.size();
  std::erase_if(rows_, [&](const NodeCommand& r) {
    return r.state != "pending" && r.created_ms < before_ms;
  });
  return before - rows_.size();
}

}  // namespace tern::store
