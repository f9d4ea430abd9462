"""The two servers under test, as private instances on loopback, plus /proc accounting.

PostfixInstance: its own config dir, queue_directory and data_directory under a temp dir
(`postfix -c DIR`), smtpd on a loopback port, delivery held (`defer_transports = smtp`,
relayhost set) so only acceptance is measured; the queue stays durable (Postfix fsyncs each
queue file before its 250). TernInstance: `tern serve` with a fresh data dir, loopback trusted
as account `bench` (smtp-source cannot AUTH), per-IP cap raised, delivery off
(`[delivery] enabled = false`) unless extra_toml configures [delivery] (bench/relay).

Invariants: both listen on 127.0.0.1 only; stop() kills what start() started (by pid); CPU is
read as utime+stime(+cutime+cstime) of the server's whole process tree, so Postfix's short-lived
smtpd/cleanup children are counted after they exit (the master reaps them).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return out
    for k in kids:
        out.append(k)
        out += children(k)
    return out


def tree(pid):
    return [pid] + children(pid)


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()  # fields from 3 (state) on


def cpu_seconds(root):
    """CPU of root's tree, including reaped children (cutime/cstime)."""
    total = 0
    for p in tree(root):
        try:
            f = _stat_fields(p)
        except OSError:
            continue
        total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def memory_kib(root):
    """(RSS sum, PSS sum) in KiB over root's tree."""
    rss = pss = 0
    for p in tree(root):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


class PostfixInstance:
    name = "Postfix"

    def __init__(self, base):
        self.base = os.path.join(base, "postfix")
        self.conf = os.path.join(self.base, "conf")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "postfix.log")
        for d in (self.conf, self.queue, self.data):
            os.makedirs(d, exist_ok=True)
        shutil.chown(self.data, "postfix")
        os.chmod(base, 0o755)
        os.chmod(self.base, 0o755)
        self.port = free_port()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
maillog_file = {self.log}
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:9
defer_transports = smtp
in_flow_delay = 0s
""")
        # Debian's master.cf with the smtpd line moved to our port and chroot off everywhere.
        out = []
        with open("/etc/postfix/master.cf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and not line[0].isspace() and not line.startswith("#"):
                    if parts[0] == "smtp" and parts[1] == "inet":
                        parts[0] = f"127.0.0.1:{self.port}"
                    parts[4] = "n"
                    line = " ".join(parts) + "\n"
                out.append(line)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.writelines(out)

    def start(self):
        r = subprocess.run(["postfix", "-c", self.conf, "start"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: " + r.stderr + self._log_tail())
        wait_port(self.port)
        with open(os.path.join(self.data, "master.lock")) as f:
            self.pid = int(f.read().split()[0])

    def _log_tail(self):
        try:
            with open(self.log) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True)
        # postfix stop is asynchronous; make sure the master is gone
        for _ in range(100):
            if not os.path.exists(f"/proc/{self.pid}"):
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)

    def fresh(self):
        """Restart: no idle smtpd processes left over from earlier runs (memory baseline)."""
        self.stop()
        self.start()

    def reset(self):
        """Empty the queue between runs (the instance keeps running)."""
        for _ in range(50):
            subprocess.run(["postsuper", "-c", self.conf, "-d", "ALL"], capture_output=True)
            if self.queued() == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("postfix queue does not empty")

    def queued(self):
        # Unique names: qmgr renames files active -> deferred while we walk (seen twice).
        ids = set()
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                ids.update(files)
        return len(ids)

    def server_pid(self):
        return self.pid


def tern_listen_toml(hostname, port, ports):
    """The start of a benchmark node's tern.toml: hostname, SMTP on 127.0.0.1:port, the other
    listeners on ports["submission"/"submissions"/"http"], connection caps raised, loopback
    trusted as account `bench` (smtp-source cannot AUTH). Also used by bench/cluster."""
    return f"""hostname = "{hostname}"
[listen]
smtp = "127.0.0.1:{port}"
submission = "127.0.0.1:{ports['submission']}"
submissions = "127.0.0.1:{ports['submissions']}"
http = "127.0.0.1:{ports['http']}"
[smtp]
max_connections = 20000
max_connections_per_ip = 20000
trusted_networks = ["127.0.0.1/32"]
trusted_account = "bench"
"""


class TernInstance:
    """`tern serve` on a fresh data dir per start(). setup(instance), when given, replaces the
    default `domain add bench bench.test --verified`: it runs after the account exists and before
    the server starts (the signing mode adds the domain with DKIM and checks it through DNS)."""

    def __init__(self, base, binary, name="Tern", extra_toml="", setup=None):
        self.name = name
        self.base = os.path.join(base, name.lower().replace(" ", "-").replace("+", "-"))
        self.bin = binary
        self.setup = setup
        os.makedirs(self.base, exist_ok=True)
        self.port = free_port()
        self.ports = {"submission": free_port(), "submissions": free_port(), "http": free_port()}
        self.config = os.path.join(self.base, "tern.toml")
        with open(self.config, "w") as f:
            f.write(tern_listen_toml("tern.bench.test", self.port, self.ports) + extra_toml)
            if "[delivery]" not in extra_toml:
                # Acceptance only, like Postfix's defer_transports: delivery would empty the
                # queue this benchmark counts (and measure delivery work too).
                f.write("[delivery]\nenabled = false\n")
        self.proc = None
        self.data = None
        self.generation = 0

    def cli(self, *args):
        r = subprocess.run([self.bin, *args, "--data", self.data, "--config", self.config],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"tern {' '.join(args)}: {r.stderr}")
        return r.stdout

    def cli_raw(self, *args):
        """Like cli(), stdout as bytes (message contents)."""
        r = subprocess.run([self.bin, *args, "--data", self.data, "--config", self.config],
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"tern {' '.join(args)}: {r.stderr.decode(errors='replace')}")
        return r.stdout

    def start(self):
        """Fresh data dir each start: every run begins with an empty queue, like Postfix."""
        self.generation += 1
        self.data = os.path.join(self.base, f"data{self.generation}")
        os.makedirs(self.data)
        self.cli("account", "create", "bench", "--json")
        if self.setup:
            self.setup(self)
        else:
            self.cli("domain", "add", "bench", "bench.test", "--verified")
        self.logf = os.path.join(self.base, f"serve{self.generation}.log")
        with open(self.logf, "wb") as log:
            self.proc = subprocess.Popen(
                [self.bin, "serve", "--data", self.data, "--config", self.config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.logf, "rb") as f:
                if b"tern ready" in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(self.logf, "rb") as f:
            raise RuntimeError("tern serve did not become ready:\n" + f.read().decode()[-2000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.data and os.path.isdir(self.data):
            shutil.rmtree(self.data, ignore_errors=True)

    def reset(self):
        self.stop()
        self.start()

    fresh = reset

    def queued(self):
        return len(json.loads(self.cli("queue", "list", "--json")))

    def server_pid(self):
        return self.proc.pid


def make_temp():
    return tempfile.mkdtemp(prefix="tern-bench-", dir="/var/tmp")
