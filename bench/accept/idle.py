"""Memory per idle connection: open N connections, read each greeting, measure the server.

Reports (RSS_with - RSS_before) / N over the server's whole process tree (and the same for PSS,
which does not count shared pages once per process: it matters for Postfix's one-process-per-
session model). Every connection has been greeted when measured, so the server holds a live
session for each, not just a queued accept.

Usage: idle.py PORT ROOT_PID N  -> prints JSON. Needs `ulimit -n` above N (run.sh raises it).
"""
import asyncio
import json
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import peers  # noqa: E402


async def main(port, root, n):
    time.sleep(0.5)
    rss0, pss0 = peers.memory_kib(root)
    conns = []
    sem = asyncio.Semaphore(200)  # bounded connect burst (listen backlog)

    async def one():
        async with sem:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            g = await asyncio.wait_for(r.readline(), 30)
            if not g.startswith(b"220"):
                raise RuntimeError(f"greeting {g!r}")
            conns.append(w)

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    errors = [repr(e) for e in results if isinstance(e, BaseException)]
    took = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    rss1, pss1 = peers.memory_kib(root)
    procs = len(peers.tree(root))
    for w in conns:
        w.close()
    held = len(conns)
    return {"connections": held, "errors": len(errors), "first_error": errors[:1],
            "connect_s": round(took, 2), "rss_before_kib": rss0, "rss_with_kib": rss1,
            "rss_per_conn_kib": round((rss1 - rss0) / max(1, held), 2),
            "pss_per_conn_kib": round((pss1 - pss0) / max(1, held), 2),
            "server_processes": procs}


if __name__ == "__main__":
    port, root, n = (int(x) for x in sys.argv[1:4])
    print(json.dumps(asyncio.run(main(port, root, n))))
