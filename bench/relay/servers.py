"""The relay benchmark's processes: smtp-sink as the final destination, Postfix + OpenDKIM as the
peer relay, Tern as the relay under test, and the DKIM probe that proves both really sign.

Reused, not copied: tests/integration/mail_peers.PrivatePostfix (private `postfix -c DIR`
instance), mail_peers.Receiver (probe destination), dns_harness.DnsServers (nsd + unbound for
the selectors), bench/accept/peers.TernInstance (tern serve on a fresh data dir) and
peers.cpu_seconds (CPU of a process tree from /proc).

Invariants:
  - Each relay delivers to exactly one place, 127.0.0.1:<its sink port>; the sink is not
    listening while a queue is being built (the "drain" cell) and listening otherwise.
  - Sink counts come from smtp-sink's own running counter (-c, "mesg=N"), read from its stdout.
  - Every wait has a deadline; every process started here is stopped by pid (never by name).
  - Both relays sign with RSA-2048 keys, relaxed/relaxed, d=bench.test; the probe checks the
    key size from DNS, the tags, a dkimpy verification, and that a tampered copy fails.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench", "accept"))
import peers  # noqa: E402  (bench/accept)
from dns_harness import txt_lookup  # noqa: E402
from mail_peers import PrivatePostfix, Receiver, free_port, wait_port  # noqa: E402
from test_domains import by_id, txt_line, zone_lines  # noqa: E402

import dkim  # noqa: E402  (python3-dkim)

DOMAIN = "bench.test"
SENDER, RCPT = f"bench@{DOMAIN}", "sink@sink.test"
PF_SELECTOR = "pf1"
CHECK_TIMEOUT_S = 60


class Sink:
    """smtp-sink on 127.0.0.1:port, started and stopped per cell; count() = messages received."""

    def __init__(self, port, dir):
        self.port, self.dir = port, dir
        self.proc = None
        self.out = None
        self.n = 0

    def start(self):
        self.n += 1
        self.out = os.path.join(self.dir, f"sink-{self.port}-{self.n}.out")
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen(
                ["smtp-sink", "-u", "postfix", "-c", "-m", "1000", f"127.0.0.1:{self.port}",
                 "1024"], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_port("127.0.0.1", self.port, timeout=10)
        return self

    def count(self):
        if not self.out:
            return 0
        with open(self.out, "rb") as f:
            data = f.read()
        found = re.findall(rb"mesg=(\d+)", data)
        return int(found[-1]) if found else 0

    def wait_count(self, n, deadline):
        """Blocks until the sink counted n messages; returns the monotonic time it saw it."""
        while True:
            got = self.count()
            now = time.monotonic()
            if got >= n:
                return now
            if now > deadline:
                raise TimeoutError(f"sink counted {got} of {n}")
            if self.proc.poll() is not None:
                raise RuntimeError(f"smtp-sink exited {self.proc.returncode}")
            time.sleep(0.05)

    def stop(self):
        p, self.proc = self.proc, None
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def pid(self):
        return self.proc.pid if self.proc else None


class PostfixOpenDkim:
    """A private Postfix relaying everything from 127.0.0.0/8 to [127.0.0.1]:sink_port, with
    opendkim (foreground, own config, RSA-2048 key pf1) as its smtpd milter."""

    name = "Postfix+OpenDKIM"

    def __init__(self, base, sink_port):
        self.sink_port = sink_port
        # opendkim refuses a config or key file on a path others can write (/var/tmp is): a
        # root-only dir under /run; removed by stop().
        self.dkim_dir = tempfile.mkdtemp(prefix="tern-bench-opendkim-", dir="/run")
        subprocess.run(["opendkim-genkey", "-b", "2048", "-d", DOMAIN, "-s", PF_SELECTOR,
                        "-D", self.dkim_dir], check=True, capture_output=True, timeout=60)
        self.key_file = os.path.join(self.dkim_dir, f"{PF_SELECTOR}.private")
        os.chmod(self.key_file, 0o600)
        self.milter_port = free_port()
        self.dkim_conf = os.path.join(self.dkim_dir, "opendkim.conf")
        with open(self.dkim_conf, "w") as f:
            f.write(f"""Mode s
Domain {DOMAIN}
Selector {PF_SELECTOR}
KeyFile {self.key_file}
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
InternalHosts 127.0.0.0/8
Socket inet:{self.milter_port}@127.0.0.1
PidFile {self.dkim_dir}/opendkim.pid
Syslog no
Background no
UMask 007
""")
        self.postfix = PrivatePostfix({
            "myhostname": "pf.bench.test",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "relayhost": f"[127.0.0.1]:{sink_port}",
            "smtp_tls_security_level": "none",
            "smtpd_milters": f"inet:127.0.0.1:{self.milter_port}",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            # with the sink down the relayhost is "dead" for a while: postqueue -f resets it
        }, name="pf-relay")
        self.port = self.postfix.port
        self.dkim = None

    def txt_record(self):
        """The pf1 TXT value opendkim-genkey wrote (the quoted pieces joined)."""
        with open(os.path.join(self.dkim_dir, f"{PF_SELECTOR}.txt")) as f:
            return "".join(re.findall(r'"([^"]*)"', f.read()))

    def zone_line(self):
        """The pf1 selector as a zone line (TXT split into 255-byte strings)."""
        return txt_line(f"{PF_SELECTOR}._domainkey.{DOMAIN}", self.txt_record())

    def start(self):
        out = open(os.path.join(self.dkim_dir, "opendkim.out"), "ab")
        self.dkim = subprocess.Popen(["opendkim", "-f", "-x", self.dkim_conf],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        try:
            wait_port("127.0.0.1", self.milter_port, timeout=15)
        except RuntimeError:
            with open(os.path.join(self.dkim_dir, "opendkim.out"), errors="replace") as f:
                raise RuntimeError("opendkim did not start: " + f.read()[-2000:]) from None
        self.postfix.start()

    def stop(self):
        self.postfix.close()
        p, self.dkim = self.dkim, None
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        shutil.rmtree(self.dkim_dir, ignore_errors=True)

    def pids(self):
        return [x for x in (self.postfix.pid, self.dkim.pid if self.dkim else None) if x]

    def queued(self):
        return self.postfix.queued()

    def settled(self, n):
        """All n messages are in the deferred queue (nothing incoming or active)."""
        return self.postfix.deferred() == n and self.postfix.queued() == n

    def flush(self):
        subprocess.run(["postqueue", "-c", self.postfix.conf, "-f"], check=True,
                       capture_output=True, timeout=60)

    def reset(self):
        for _ in range(50):
            subprocess.run(["postsuper", "-c", self.postfix.conf, "-d", "ALL"],
                           capture_output=True, timeout=60)
            if self.postfix.queued() == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("postfix queue does not empty")

    def log_tail(self):
        return self.postfix.log_tail()


class TernRelay:
    """tern serve (bench/accept's TernInstance) with [delivery] smarthost = the sink, DKIM for
    bench.test (selector tern1) published through the test DNS and checked ok on every start.
    Delivery configuration and CLI as the delivery engine defines them (issue 4)."""

    name = "Tern"

    def __init__(self, base, binary, sink_port, dns_servers, pf_zone_line):
        self.dns_servers, self.pf_zone_line = dns_servers, pf_zone_line
        extra = (f'[dns]\nresolver = "{dns_servers.resolver_addr}"\ncheck_interval_s = 3600\n'
                 f'[delivery]\nenabled = true\nmx_port = {sink_port}\nsmarthost = "127.0.0.1:{sink_port}"\n'
                 f'smarthost_security = "none"\n')
        self.inst = peers.TernInstance(base, binary, name="Tern relay", extra_toml=extra,
                                       setup=self._setup)
        self.port = self.inst.port
        self.sink_port = sink_port
        self._settle = None

    def _setup(self, tn):
        rep = json.loads(tn.cli("domain", "add", "bench", DOMAIN, "--json"))
        ids = {r["id"] for r in rep["records"]}
        if "dkim:tern1" not in ids or "ownership" not in ids:
            raise RuntimeError(f"domain add printed no dkim:tern1/ownership record: {rep}")
        self.dns_servers.update(DOMAIN, zone_lines(rep["records"]) + [
            self.pf_zone_line])
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        out = {}
        while time.monotonic() < deadline:
            out = by_id(json.loads(tn.cli("domain", "check", DOMAIN, "--json")))
            if out["dkim:tern1"]["status"] == "ok" and out["ownership"]["status"] == "ok":
                return
            time.sleep(0.5)
        raise RuntimeError(f"{DOMAIN} did not check ok within {CHECK_TIMEOUT_S}s: {out}")

    def start(self):
        self.inst.start()

    def stop(self):
        self.inst.stop()

    def pids(self):
        return [self.inst.server_pid()] if self.inst.proc else []

    def _list(self):
        return json.loads(self.inst.cli("queue", "list", "--json"))

    def queued(self):
        return len(self._list())

    IN_FLIGHT = ("active", "delivering", "sending", "in_flight", "inflight", "connecting")

    def settled(self, n):
        """All n queued and no delivery attempt in flight: the listing (`tern queue list
        --json`) holds n messages, none in a state named like an attempt in progress, and is
        unchanged since the previous poll (the cell polls once a second; attempts against the
        dead sink end in milliseconds, and the next retry is a minute or more away)."""
        items = self._list()
        if len(items) != n:
            self._settle = None
            return False
        states = {str(m.get("state", m.get("status", ""))).lower()
                  for m in items if isinstance(m, dict)}
        snap = json.dumps(items, sort_keys=True)
        same = self._settle == snap
        self._settle = snap
        return same and not states.intersection(self.IN_FLIGHT)

    def flush(self):
        self.inst.cli("queue", "retry", "--all")

    def reset(self):
        self.inst.reset()  # fresh data dir, empty queue, setup (DKIM check) again

    def log_tail(self):
        try:
            with open(self.inst.logf, errors="replace") as f:
                return f.read()[-3000:]
        except (OSError, AttributeError):
            return ""


# --- DKIM probe ---------------------------------------------------------------------------------
def make_dnsfunc(dns_servers):
    """dkimpy's TXT lookup through the test resolver (tests/integration/dns_harness.py)."""
    return txt_lookup(dns_servers.resolver_addr)


def _signatures(raw):
    """Tags of every DKIM-Signature field in raw's header section (unfolded)."""
    head = re.split(rb"\r?\n\r?\n", raw, 1)[0]
    fields, cur = [], None
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and cur is not None:
            cur.append(line.strip())
            continue
        cur = None
        if line.lower().startswith(b"dkim-signature:"):
            cur = [line.split(b":", 1)[1].strip()]
            fields.append(cur)
    out = []
    for f in fields:
        value = b" ".join(f).decode(errors="replace")
        out.append({k.strip(): v.strip() for k, _, v in
                    (t.partition("=") for t in value.split(";")) if k.strip()})
    return out


def rsa_bits(dnsfunc, selector):
    txt = dnsfunc(f"{selector}._domainkey.{DOMAIN}.".encode()).decode()
    tags = {k.strip(): v.strip() for k, _, v in (t.partition("=") for t in txt.split(";"))}
    der = base64.b64decode("".join(tags.get("p", "").split()))
    pem = ("-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(der).decode()
           + "-----END PUBLIC KEY-----\n")
    r = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"], input=pem,
                       capture_output=True, text=True, timeout=10)
    m = re.search(r"Public-Key: \((\d+) bit\)", r.stdout)
    return int(m.group(1)) if m else 0


def probe(relay, dns_servers, timeout=60):
    """One smtp-source message through `relay`, received by a mail_peers.Receiver on the sink's
    port: it must carry a d=bench.test rsa-sha256 signature from a 2048-bit key that dkimpy
    verifies, and one body byte changed must fail. Returns what was seen (for the results)."""
    with Receiver(port=relay.sink_port) as rx:
        subprocess.run(["smtp-source", "-s", "1", "-m", "1", "-l", "1024", "-f", SENDER,
                        "-t", RCPT, "-M", DOMAIN, f"127.0.0.1:{relay.port}"],
                       check=True, capture_output=True, timeout=60)
        try:
            [msg] = rx.wait_for(1, timeout=timeout)[:1]
        except AssertionError as e:
            raise RuntimeError(f"{relay.name}: probe not delivered: {e}\n{relay.log_tail()}")
    raw = msg.data
    sigs = [s for s in _signatures(raw) if s.get("d") == DOMAIN and s.get("a") == "rsa-sha256"]
    if not sigs:
        raise RuntimeError(f"{relay.name}: no rsa-sha256 d={DOMAIN} signature:\n{raw[:1500]!r}")
    dnsfunc = make_dnsfunc(dns_servers)
    bits = rsa_bits(dnsfunc, sigs[0]["s"])
    if bits != 2048:
        raise RuntimeError(f"{relay.name}: selector {sigs[0]['s']} key is {bits} bits, not 2048")
    if not dkim.DKIM(raw).verify(dnsfunc=dnsfunc):
        raise RuntimeError(f"{relay.name}: dkimpy does not verify the probe:\n{raw[:1500]!r}")
    at = raw.index(b"XXXXXXXXXX")
    tampered = raw[:at] + b"Y" + raw[at + 1:]
    try:
        bad = dkim.DKIM(tampered).verify(dnsfunc=dnsfunc)
    except dkim.ValidationError:
        bad = False
    if bad:
        raise RuntimeError(f"{relay.name}: a tampered probe verifies: the check proves nothing")
    return {"selector": sigs[0]["s"], "a": "rsa-sha256", "c": sigs[0].get("c"), "bits": bits,
            "signatures": len(_signatures(raw)), "dkimpy": "pass", "tampered": "fail"}


def cpu(pids):
    return sum(peers.cpu_seconds(p) for p in pids)
