// NodeCommands (node_commands.hpp) and AuthCountStore (auth_counts.hpp) on PostgreSQL: the
// `node_commands` and `auth_failures` tables of migration 9, one statement per call on a
// pooled connection. A command's state leaves "pending" by one conditional UPDATE, so a finish
// and an expiry racing each other cannot both win. An AUTH count is written by a
// compare-and-set (INSERT ... ON CONFLICT DO NOTHING for a new key, UPDATE ... WHERE the old
// values for an existing one): the limiter's rule stays in C++, and two nodes counting a
// failure at once both land (the loser reads again). Neither write is resent after a lost
// connection (a resent swap could count a failure twice).
#include <fmt/format.h>

#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

constexpr const char* kCommandColumns =
    "id, node_id, command, queue_id, args, created_ms, state, result, done_ms";

NodeCommand command_from_row(const Rows& r, int i) {  // kCommandColumns
  NodeCommand c;
  r.read(i, c.id, c.node_id, c.command, c.queue_id, c.args, c.created_ms, c.state, c.result,
         c.done_ms);
  return c;
}

class PgNodeCommands final : public NodeCommands {
 public:
  explicit PgNodeCommands(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  core::Result<int64_t> enqueue(const NodeCommand& c) override {
    if (c.node_id.empty() || c.command.empty())
      return core::Error::invalid("node command: a node and a command");
    return pool_->with(
        [&](Conn& conn) -> core::Result<int64_t> {
          auto r = conn.exec(
              "INSERT INTO node_commands(node_id, command, queue_id, args, created_ms) "
              "VALUES($1, $2, $3, $4, $5) RETURNING id",
              Params::of(c.node_id, c.command, c.queue_id, c.args, c.created_ms),
              "enqueue node command");
          if (!r) return r.error();
          return r->int64(0, 0);
        },
        false);
  }

  core::Result<std::vector<NodeCommand>> pending(std::string_view node_id, size_t limit) override {
    return pool_->with([&](Conn& conn) -> core::Result<std::vector<NodeCommand>> {
      auto r = conn.exec(fmt::format("SELECT {} FROM node_commands WHERE node_id = $1 AND "
                                     "state = 'pending' ORDER BY id LIMIT $2",
                                     kCommandColumns),
                         Params::of(node_id, static_cast<int64_t>(limit)), "read node commands");
      if (!r) return r.error();
      std::vector<NodeCommand> out;
      for (int i = 0; i < r->size(); ++i) out.push_back(command_from_row(*r, i));
      return out;
    });
  }

  core::Result<bool> finish(int64_t id, std::string_view state, std::string_view result,
                            int64_t now_ms) override {
    return pool_->with(
        [&](Conn& conn) -> core::Result<bool> {
          auto r = conn.exec(
              "UPDATE node_commands SET state = $2, result = $3, done_ms = $4 "
              "WHERE id = $1 AND state = 'pending'",
              Params::of(id, state, result, now_ms), "finish node command");
          if (!r) return r.error();
          return r->affected() == 1;
        },
        false);
  }

  core::Result<std::optional<NodeCommand>> get(int64_t id) override {
    return pool_->with([&](Conn& conn) -> core::Result<std::optional<NodeCommand>> {
      auto r = conn.exec(fmt::format("SELECT {} FROM node_commands WHERE id = $1", kCommandColumns),
                         Params::of(id), "read node command");
      if (!r) return r.error();
      if (r->empty()) return std::optional<NodeCommand>();
      return std::optional<NodeCommand>(command_from_row(*r, 0));
    });
  }

  core::Result<size_t> expire(std::string_view node_id, int64_t before_ms,
                              int64_t now_ms) override {
    return pool_->with([&](Conn& conn) -> core::Result<size_t> {
      auto r = conn.exec(
          "UPDATE node_commands SET state = 'expired', done_ms = $3 "
          "WHERE node_id = $1 AND state = 'pending' AND created_ms < $2",
          Params::of(node_id, before_ms, now_ms), "expire node commands");
      if (!r) return r.error();
      return static_cast<size_t>(r->affected());
    });
  }

  core::Result<size_t> trim(int64_t before_ms) override {
    return pool_->with([&](Conn& conn) -> core::Result<size_t> {
      auto r = conn.exec("DELETE FROM node_commands WHERE state <> 'pending' AND created_ms < $1",
                         Params::of(before_ms), "trim node commands");
      if (!r) return r.error();
      return static_cast<size_t>(r->affected());
    });
  }

 private:
  std::shared_ptr<Pool> pool_;
};

class PgAuthCounts final : public AuthCountStore {
 public:
  explicit PgAuthCounts(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  core::Result<std::optional<AuthCountRow>> get(std::string_view key) override {
    using R = std::optional<AuthCountRow>;
    return pool_->with([&](Conn& c) -> core::Result<R> {
      auto r = c.exec(
          "SELECT failures, window_start_ms, blocked_until_ms FROM auth_failures WHERE key = $1",
          Params::of(storable_text(key)), "read auth count");
      if (!r) return r.error();
      if (r->empty()) return R();
      return R(AuthCountRow{r->int64(0, 0), r->int64(0, 1), r->int64(0, 2)});
    });
  }

  core::Result<bool> swap(std::string_view key, const std::optional<AuthCountRow>& expected,
                          const AuthCountRow& next) override {
    const std::string k = storable_text(key);
    return pool_->with(
        [&](Conn& c) -> core::Result<bool> {
          auto r =
              expected
                  ? c.exec(
                        "UPDATE auth_failures SET failures = $5, window_start_ms = $6, "
                        "blocked_until_ms = $7 WHERE key = $1 AND failures = $2 AND "
                        "window_start_ms = $3 AND blocked_until_ms = $4",
                        Params::of(k, expected->failures, expected->window_start_ms,
                                   expected->blocked_until_ms, next.failures, next.window_start_ms,
                                   next.blocked_until_ms),
                        "update auth count")
                  : c.exec(
                        "INSERT INTO auth_failures(key, failures, window_start_ms, "
                        "blocked_until_ms) VALUES($1, $2, $3, $4) "
                        "ON CONFLICT(key) DO NOTHING",
                        Params::of(k, next.failures, next.window_start_ms, next.blocked_until_ms),
                        "insert auth count");
          if (!r) return r.error();
          return r->affected() == 1;
        },
        false);
  }

  core::Result<void> erase(std::string_view key) override {
    return pool_->with([&](Conn& c) -> core::Result<void> {
      auto r = c.exec("DELETE FROM auth_failures WHERE key = $1", Params::of(storable_text(key)),
                      "clear auth count");
      if (!r) return r.error();
      return core::ok();
    });
  }

  core::Result<std::vector<std::pair<std::string, AuthCountRow>>> live(std::string_view prefix,
                                                                       int64_t now_ms,
                                                                       int64_t since_ms,
                                                                       size_t limit) override {
    using V = std::vector<std::pair<std::string, AuthCountRow>>;
    return pool_->with([&](Conn& c) -> core::Result<V> {
      // The prefix is compared as a string (no LIKE: it is the program's, but '_' would match).
      auto r = c.exec(
          "SELECT key, failures, window_start_ms, blocked_until_ms FROM auth_failures "
          "WHERE left(key, length($1)) = $1 AND (blocked_until_ms > $2 OR window_start_ms >= $3) "
          "ORDER BY window_start_ms DESC LIMIT $4",
          Params::of(prefix, now_ms, since_ms, static_cast<int64_t>(limit)), "read auth counts");
      if (!r) return r.error();
      V out;
      for (int i = 0; i < r->size(); ++i)
        out.emplace_back(r->text(i, 0),
                         AuthCountRow{r->int64(i, 1), r->int64(i, 2), r->int64(i, 3)});
      return out;
    });
  }

  core::Result<size_t> trim(int64_t now_ms, int64_t since_ms) override {
    return pool_->with([&](Conn& c) -> core::Result<size_t> {
      auto r =
          c.exec("DELETE FROM auth_failures WHERE blocked_until_ms <= $1 AND window_start_ms < $2",
                 Params::of(now_ms, since_ms), "trim auth counts");
      if (!r) return r.error();
      return static_cast<size_t>(r->affected());
    });
  }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<NodeCommands> make_node_commands(std::shared_ptr<Pool> pool) {
  return std::make_unique<PgNodeCommands>(std::move(pool));
}

std::unique_ptr<AuthCountStore> make_auth_counts(std::shared_ptr<Pool> pool) {
  return std::make_unique<PgAuthCounts>(std::move(pool));
}

}  // namespace tern::store::pg
