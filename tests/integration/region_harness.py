"""A region for integration tests (issue 12, docs/cluster.md): N `tern serve` nodes, each with its
own data directory, spool and ports, sharing one PostgreSQL schema (pg_harness). The nodes are
started at the same moment (one thread each, released together by a barrier), so they race for
the migrations, the region's secrets and the leases as real nodes that boot together do.

Region(pg, n, config, per_node) -> .nodes[0..n-1] (harness.TernServer, node ids "node-1", ...);
.rows(sql) reads the region's schema with psql; .admin() is the region's operator token;
.api(node, method, path, token, body) calls a node's REST API; close() stops every node.

Invariants:
  - Every node started here is stopped when the test ends, also on failure (close() is
    idempotent; a node that failed to start is closed by harness.TernServer itself, and the
    others by close()).
  - Every wait is bounded; everything listens on 127.0.0.1 only.
"""
import os
import threading

import harness


class Region:
    def __init__(self, pg, n, config=None, per_node=None):
        """pg: a pg_harness.PgServer (a fresh schema is made here); config: what every node's
        TOML gets (merged over harness defaults); per_node(i) -> config merged over it for node
        i (0-based)."""
        self.pg = pg
        self.schema, self.url = pg.new_schema()
        self.nodes = [None] * n
        base = harness.merge({"store": {"url": self.url}}, config or {})
        barrier = threading.Barrier(n)
        errors = []

        def start(i):
            cfg = harness.merge(base, {"cluster": {"node_id": f"node-{i + 1}"}})
            if per_node:
                cfg = harness.merge(cfg, per_node(i))
            try:
                barrier.wait(60)
                self.nodes[i] = harness.TernServer(cfg, account=False)
            except BaseException as e:  # noqa: B036 (reported below, with the node)
                errors.append(f"node-{i + 1}: {e}")

        threads = [threading.Thread(target=start, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if errors or any(x is None for x in self.nodes):
            self.close()
            raise RuntimeError("region did not start: " + "; ".join(errors or ["timeout"]))

    def close(self):
        for node in self.nodes:
            if node is not None:
                try:
                    node.close()
                except Exception:
                    node.kill9()

    def rows(self, sql):
        return self.pg.psql(f"SET search_path TO {self.schema}; {sql}")

    def admin(self):
        with open(os.path.join(self.nodes[0].data, "admin.token")) as f:
            return f.read().strip()

    @staticmethod
    def api(node, method, path, token, body=None, timeout=30):
        return harness.api_call(node, method, path, token, body, timeout)

    def account(self, name, domain):
        """An account made through node 1's API (its first login set on every node as the
        SMTP credentials) and a verified sending domain added with node 1's CLI."""
        code, made = self.api(self.nodes[0], "POST", "/api/v1/accounts", self.admin(),
                              {"name": name})
        if code != 201:
            raise AssertionError(f"account {name}: {code} {made!r}")
        self.nodes[0].cli("domain", "add", name, domain, "--verified")
        for node in self.nodes:
            node.username, node.password = made["username"], made["password"]
        return made
