// The cluster seam on PostgreSQL (cluster.hpp): leases with fencing tokens (cluster_leases),
// the change feed (change_log) and the region's secrets, shared by every node of the region (the
// node registry is pg_node_registry.cpp). Each call is one statement on a pooled connection; a
// lease is granted or renewed by one INSERT ... ON CONFLICT DO UPDATE ... WHERE, so two nodes
// asking at once cannot both get it. The token grows per lease name with every new holding; a
// renewal keeps it; release() ends the holding early without forgetting the token. Leases are
// arbitrated on the database's clock (statement_timestamp()) unless PgOptions::lease_clock says the
// caller's (tests with fixed times): the nodes' clocks may disagree, the database's is one for all
// of them.
#include <fmt/format.h>

#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

class PgCluster final : public Cluster {
 public:
  PgCluster(std::shared_ptr<Pool> pool, std::string node_id, bool database_clock)
      : pool_(std::move(pool)), database_clock_(database_clock), id_(std::move(node_id)) {}

  const std::string& node_id() const override { return id_; }

  core::Result<std::optional<Lease>> acquire(std::string_view name, int64_t now_ms,
                                             int64_t ttl_ms) override {
    if (name.empty() || ttl_ms <= 0) return core::Error::invalid("lease: a name and a ttl > 0");
    using R = std::optional<Lease>;
    // now: the database's clock, or the caller's ($4).
    const std::string now = database_clock_
                                ? "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::bigint"
                                : "$4::bigint";
    const std::string sql = fmt::format(
        "INSERT INTO cluster_leases(name, holder, token, expires_ms) VALUES($1, $2, 1, {0} + $3) "
        "ON CONFLICT(name) DO UPDATE SET "
        "token = CASE WHEN cluster_leases.holder = excluded.holder AND "
        "cluster_leases.expires_ms > {0} THEN cluster_leases.token "
        "ELSE cluster_leases.token + 1 END, "
        "holder = excluded.holder, expires_ms = excluded.expires_ms "
        "WHERE (cluster_leases.holder = excluded.holder AND cluster_leases.expires_ms > {0}) "
        "OR cluster_leases.expires_ms <= {0} "
        "RETURNING holder, token, expires_ms",
        now);
    Params p = Params::of(name, id_, ttl_ms);
    if (!database_clock_) p.add(now_ms);
    return pool_->with(
        [&](Conn& c) -> core::Result<R> {
          auto r = c.exec(sql, p, "acquire lease");
          if (!r) return r.error();
          if (r->empty()) return R();
          return R(Lease{std::string(name), r->text(0, 0), r->int64(0, 1), r->int64(0, 2)});
        },
        false);
  }

  core::Result<void> release(std::string_view name, int64_t token) override {
    return pool_->with([&](Conn& c) -> core::Result<void> {
      auto r = c.exec(
          "UPDATE cluster_leases SET expires_ms = 0 WHERE name = $1 AND holder = $2 AND "
          "token = $3",
          Params::of(name, id_, token), "release lease");
      if (!r) return r.error();
      return core::ok();
    });
  }

  core::Result<int64_t> publish(std::string_view subject, int64_t now_ms) override {
    return pool_->with(
        [&](Conn& c) -> core::Result<int64_t> {
          // NOTIFY as the triggers do (a wake-up for listening nodes, store/pg_listener.hpp).
          auto r = c.exec(
              "INSERT INTO change_log(time_ms, subject) SELECT $1, $2 "
              "FROM (SELECT pg_notify('tern_change', '')) AS wake RETURNING id",
              Params::of(now_ms, subject), "publish change");
          if (!r) return r.error();
          return r->int64(0, 0);
        },
        false);
  }

  core::Result<std::vector<Change>> changes_since(int64_t after, size_t limit) override {
    return pool_->with([&](Conn& c) -> core::Result<std::vector<Change>> {
      auto r =
          c.exec("SELECT id, subject, time_ms FROM change_log WHERE id > $1 ORDER BY id LIMIT $2",
                 Params::of(after, static_cast<int64_t>(limit)), "read changes");
      if (!r) return r.error();
      std::vector<Change> out;
      for (int i = 0; i < r->size(); ++i)
        out.push_back({r->int64(i, 0), r->text(i, 1), r->int64(i, 2)});
      return out;
    });
  }

  core::Result<std::string> shared_secret(std::string_view name, const std::string& candidate,
                                          int64_t now_ms) override {
    if (name.empty() || candidate.empty())
      return core::Error::invalid("shared secret: a name and a value");
    return pool_->with([&](Conn& c) -> core::Result<std::string> {
      // Inserted by this call, or already there. When another node inserts at the same moment,
      // ON CONFLICT waits for it and the row may not be in this statement's snapshot yet: the
      // second SELECT (a new snapshot) finds it.
      auto r = c.exec(
          "WITH made AS (INSERT INTO cluster_secrets(name, value, created_ms) VALUES($1, $2, $3) "
          "ON CONFLICT(name) DO NOTHING RETURNING value) "
          "SELECT value FROM made UNION ALL SELECT value FROM cluster_secrets WHERE name = $1",
          Params::of(name, candidate, now_ms), "share secret");
      if (!r) return r.error();
      if (!r->empty()) return r->text(0, 0);
      auto again = c.exec("SELECT value FROM cluster_secrets WHERE name = $1", Params::of(name),
                          "read shared secret");
      if (!again) return again.error();
      if (again->empty()) return core::Error::unavailable("shared secret vanished");
      return again->text(0, 0);
    });
  }

  core::Result<size_t> trim_changes(int64_t before_ms) override {
    return pool_->with([&](Conn& c) -> core::Result<size_t> {
      auto r = c.exec("DELETE FROM change_log WHERE time_ms < $1", Params::of(before_ms),
                      "trim changes");
      if (!r) return r.error();
      return static_cast<size_t>(r->affected());
    });
  }

 private:
  std::shared_ptr<Pool> pool_;
  const bool database_clock_;
  const std::string id_;
};

}  // namespace

std::unique_ptr<Cluster> make_cluster(std::shared_ptr<Pool> pool, std::string node_id,
                                      bool database_clock) {
  return std::make_unique<PgCluster>(std::move(pool), std::move(node_id), database_clock);
}

}  // namespace tern::store::pg
