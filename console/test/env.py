"""The world the console's browser suite runs against, on loopback only: a real `tern serve`
(temp data dir, free ports), real DNS (nsd + unbound from tests/integration/dns_harness.py) for
the domain checks, and an aiosmtpd sink standing for the customer's own SMTP server
(tests/integration/mail_peers.py).

    /usr/bin/python3 console/test/env.py build/tern

prints one JSON line (ports, operator token, ...) and then answers one JSON command per line
on stdin with one JSON line on stdout:
    {"cmd": "publish", "zone": "shop.test", "records": [...]}   records as the API answers them
    {"cmd": "sink"}                                              what the sink received
    {"cmd": "cli", "args": [...]}                                a tern CLI command (JSON out)
    {"cmd": "log"}                                               the server log's tail
End of stdin (the test process gone) stops everything and removes every temp dir.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
sys.dont_write_bytecode = True

if len(sys.argv) > 1:
    os.environ["TERN_BIN"] = os.path.abspath(sys.argv[1])

import harness  # noqa: E402
import mail_peers  # noqa: E402
from dns_harness import DnsServers  # noqa: E402

ZONES = ["shop.test", "platform.test"]
PLATFORM = [
    'spf TXT "v=spf1 ip4:192.0.2.0/24 -all"',
]


def txt_line(name, value):
    parts = " ".join('"%s"' % value[i:i + 255] for i in range(0, len(value), 255)) or '""'
    return f"{name}. TXT {parts}"


def zone_lines(records):
    out = []
    for r in records:
        if r["type"] == "CNAME":
            out.append(f"{r['name']}. CNAME {r['value']}.")
        else:
            out.append(txt_line(r["name"], r["value"]))
    return out


def main():
    dns = DnsServers({z: (PLATFORM if z == "platform.test" else []) for z in ZONES})
    sink = server = None
    try:
        sink = mail_peers.Receiver(name="sink.test").start()
        config = {
            "platform": {"dkim_zone": "dkim.platform.test", "spf_include": "spf.platform.test",
                         "sending_ips": ["192.0.2.10"]},
            "dns": {"resolver": dns.resolver_addr, "check_interval_s": 3600},
            # Delivery on (test email, relays); relays on loopback allowed (the sink).
            "delivery": {"relay_allow": ["127.0.0.0/8"]},
        }
        server = harness.TernServer(config, account=False)
        with open(os.path.join(server.data, "admin.token")) as f:
            admin = f.read().strip()
        closed = mail_peers.free_port()  # nothing listens there: the "wrong port"
        print(json.dumps({
            "http": server.port("http"),
            "base": f"http://127.0.0.1:{server.port('http')}",
            "submission": server.port("submission"),
            "admin": admin,
            "sinkPort": sink.port,
            "closedPort": closed,
            "data": server.data,
        }), flush=True)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                c = cmd.get("cmd")
                if c == "publish":
                    dns.update(cmd["zone"], zone_lines(cmd["records"]))
                    out = {"ok": True}
                elif c == "sink":
                    out = {"messages": [{"from": t.mail_from, "to": t.rcpt_tos,
                                         "data": t.data.decode("utf-8", "replace")}
                                        for t in sink.messages]}
                elif c == "cli":
                    r = server.cli(*cmd["args"], check=False)
                    out = {"rc": r.returncode, "stdout": r.stdout.decode(errors="replace"),
                           "stderr": r.stderr.decode(errors="replace")}
                elif c == "log":
                    out = {"log": server.log().decode(errors="replace")[-8000:]}
                else:
                    out = {"error": f"unknown command {c!r}"}
            except Exception as e:  # answer, never die: the test reads one line per command
                out = {"error": f"{type(e).__name__}: {e}"}
            print(json.dumps(out), flush=True)
    finally:
        if server:
            server.close()
        if sink:
            sink.close()
        dns.close()


if __name__ == "__main__":
    main()
