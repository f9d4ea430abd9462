#include "app/queue_router.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace tern::app {

namespace {

using delivery::QueueAction;
using delivery::QueueActionResult;
using delivery::QueueSelector;

std::string args_json(const QueueSelector& s) {
  nlohmann::json j = nlohmann::json::object();
  if (!s.ids.empty())
    j["ids"] = s.ids;
  else if (!s.destination.empty())
    j["destination"] = s.destination;
  if (s.account_id != 0) j["account"] = s.account_id;
  return j.dump();
}

// The selector a command's args name; nullopt when they are not ours.
std::optional<QueueSelector> parse_args(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  QueueSelector s;
  if (j.contains("ids")) {
    if (!j["ids"].is_array() || j["ids"].empty()) return std::nullopt;
    for (const auto& id : j["ids"]) {
      if (!id.is_string()) return std::nullopt;
      s.ids.push_back(id.get<std::string>());
    }
  }
  if (j.contains("destination")) {
    if (!j["destination"].is_string()) return std::nullopt;
    s.destination = j["destination"].get<std::string>();
  }
  if (j.contains("account")) {
    if (!j["account"].is_number_integer()) return std::nullopt;
    s.account_id = j["account"].get<int64_t>();
  }
  if (s.ids.empty() && s.destination.empty() && s.account_id == 0) return std::nullopt;
  return s;
}

}  // namespace

QueueRouter::QueueRouter(delivery::QueueControl& local, store::MessageLog& log,
                         store::NodeCommands& commands, const core::Clock& clock, Options opt,
                         Seams seams)
    : local_(local),
      log_(log),
      commands_(commands),
      clock_(clock),
      opt_(std::move(opt)),
      seams_(std::move(seams)) {
  if (!seams_.sleep)
    seams_.sleep = [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  if (!seams_.live_nodes) seams_.live_nodes = [] { return std::vector<std::string>{}; };
}

std::vector<delivery::QueueMessageView> QueueRouter::queue_snapshot(
    const delivery::QueueFilter& f) {
  return local_.queue_snapshot(f);
}

std::string QueueRouter::holder(const std::string& queue_id, int64_t* account_id) {
  auto rows = log_.for_queue(queue_id);
  if (!rows) {
    spdlog::warn("queue command: message log: {} (acting on this node)", rows.error().message);
    return "";
  }
  if (rows->empty()) return "";
  if (account_id) *account_id = rows->front().account_id;
  return rows->front().node_id;
}

// Scoped ids run only on messages this queue holds for the account; nothing matching changes
// nothing (an empty id list must not fall through to "every message of the account").
QueueActionResult QueueRouter::apply_local(QueueAction a, QueueSelector s) {
  if (!s.ids.empty() && s.account_id != 0) {
    delivery::QueueFilter f;
    f.account_id = s.account_id;
    std::set<std::string> mine;
    for (const auto& m : local_.queue_snapshot(f))
      if (m.account_id == s.account_id) mine.insert(m.id);
    std::erase_if(s.ids, [&](const std::string& id) { return !mine.count(id); });
    if (s.ids.empty()) return {};
  }
  return local_.queue_action(a, s);
}

QueueActionResult QueueRouter::queue_action(QueueAction a, const QueueSelector& s) {
  const int64_t now = clock_.now_ms();
  QueueSelector here;
  here.account_id = s.account_id;
  here.destination = s.destination;
  std::map<std::string, QueueSelector> remote;  // node → what it must do
  bool run_here = true;
  if (!s.ids.empty()) {
    for (const auto& id : s.ids) {
      int64_t account = 0;
      const std::string h = holder(id, &account);
      if (s.account_id != 0 && account != 0 && account != s.account_id) continue;  // not theirs
      if (h.empty() || h == opt_.node_id) {
        here.ids.push_back(id);
      } else {
        auto& sel = remote[h];
        sel.account_id = s.account_id;
        sel.ids.push_back(id);
      }
    }
    here.destination.clear();
    run_here = !here.ids.empty();
  } else {
    for (const auto& n : seams_.live_nodes())
      if (n != opt_.node_id) remote[n] = s;
  }

  QueueActionResult out;
  if (run_here) {
    auto r = apply_local(a, here);
    out.count += r.count;
    if (!r.ok) {
      out.ok = false;
      out.message = r.message;
    }
  }
  if (remote.empty()) return out;

  std::set<std::string> alive;
  for (auto& n : seams_.live_nodes()) alive.insert(std::move(n));
  struct Waiting {
    std::string node;
    int64_t id = 0;
  };
  std::vector<Waiting> waiting;
  for (const auto& [node, sel] : remote) {
    store::NodeCommand c;
    c.node_id = node;
    c.command = delivery::to_string(a);
    c.queue_id = sel.ids.empty() ? "" : sel.ids.front();
    c.args = args_json(sel);
    c.created_ms = now;
    auto id = commands_.enqueue(c);
    if (!id) {
      out.ok = false;
      out.message =
          fmt::format("could not queue the command for node {}: {}", node, id.error().message);
      continue;
    }
    if (alive.count(node))
      waiting.push_back({node, *id});
    else
      out.pending.push_back({node, false, *id});  // down: not waited for
  }
  const int64_t deadline = now + opt_.wait_ms;
  while (!waiting.empty()) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto c = commands_.get(it->id);
      if (!c || !*c || (*c)->state == "pending") {
        ++it;
        continue;
      }
      const auto& cmd = **c;
      auto res = nlohmann::json::parse(cmd.result, nullptr, false);
      if (cmd.state == "done") {
        if (res.is_object() && res.contains("count") && res["count"].is_number_unsigned())
          out.count += res["count"].get<size_t>();
      } else {
        out.ok = false;
        std::string why = cmd.state;
        if (res.is_object() && res.contains("error") && res["error"].is_string())
          why = res["error"].get<std::string>();
        out.message = fmt::format("node {}: {}", cmd.node_id, why);
      }
      it = waiting.erase(it);
    }
    if (waiting.empty() || clock_.now_ms() >= deadline) break;
    seams_.sleep(std::min(opt_.poll_ms, std::max<int64_t>(1, deadline - clock_.now_ms())));
  }
  for (const auto& w : waiting) out.pending.push_back({w.node, true, w.id});
  return out;
}

delivery::ControlReply QueueRouter::control(const std::string& cmd, const std::string& id,
                                            const std::function<delivery::ControlReply()>& local) {
  if (id.empty()) return local();
  const std::string h = holder(id);
  if (h.empty() || h == opt_.node_id) return local();
  auto a = delivery::parse_queue_action(cmd);
  if (!a) return {false, 0, "unknown command: " + cmd, ""};
  QueueSelector s;
  s.ids.push_back(id);
  auto r = queue_action(*a, s);
  delivery::ControlReply rep;
  rep.ok = r.ok;
  rep.count = r.count;
  rep.message = r.message;
  rep.note = pending_note(r);
  return rep;
}

std::string QueueRouter::pending_note(const QueueActionResult& r) const {
  std::string out;
  for (const auto& p : r.pending) {
    if (!out.empty()) out += "; ";
    if (p.alive)
      out += fmt::format(
          "node {} holds messages of this action and has not answered within {} s: the command "
          "stays queued for it",
          p.node, opt_.wait_ms / 1000.0);
    else
      out += fmt::format(
          "node {} holds messages of this action and is down (not seen in the registry): the "
          "command stays queued until it returns",
          p.node);
  }
  if (!out.empty())
    out += fmt::format(" (dropped if not run within {} min)", opt_.expire_ms / 60'000);
  return out;
}

size_t QueueRouter::run_pending() {
  if (seams_.ready && !seams_.ready()) return 0;  // the engine is still reading the spool
  const int64_t now = clock_.now_ms();
  if (auto e = commands_.expire(opt_.node_id, now - opt_.expire_ms, now); !e)
    spdlog::warn("queue commands: {}", e.error().message);
  else if (*e > 0)
    spdlog::warn("queue commands: {} expired before this node could run them", *e);
  auto list = commands_.pending(opt_.node_id, opt_.batch);
  if (!list) {
    spdlog::warn("queue commands: {}", list.error().message);
    return 0;
  }
  size_t ran = 0;
  for (const auto& c : *list) {
    const auto a = delivery::parse_queue_action(c.command);
    const auto sel = parse_args(c.args);
    nlohmann::json res;
    std::string state = "done";
    if (!a || !sel) {
      state = "failed";
      res = {{"error", "malformed command"}};
    } else {
      auto r = apply_local(*a, *sel);
      if (r.ok) {
        res = {{"count", r.count}};
      } else {
        state = "failed";
        res = {{"error", r.message}};
      }
      spdlog::info("queue command {} from the region: {} {} → {}", c.id, c.command,
                   c.queue_id.empty() ? c.args : c.queue_id, r.ok ? "done" : r.message);
    }
    if (auto f = commands_.finish(c.id, state, res.dump(), clock_.now_ms()); !f)
      spdlog::warn("queue command {}: {}", c.id, f.error().message);
    ++ran;
  }
  return ran;
}

}  // namespace tern::app
