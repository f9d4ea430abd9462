"""Test harness: runs the real `tern serve` on free loopback ports with a temp data dir.

What it does: writes a TOML config, starts the server, waits for the `tern ready` line on stderr,
creates account `acme` with verified domain `acme.test` through the CLI, and gives helpers to run
the CLI, talk raw SMTP (plain or TLS), call the REST API (api_call), stop with SIGTERM and
kill -9.

Invariants:
  - Every process started here is killed when the test ends, also on failure (stop() is
    idempotent and registered with addCleanup by the tests; atexit as a last resort).
  - Every wait is bounded; nothing listens beyond 127.0.0.1.
  - Only the interpreter /usr/bin/python3 (Debian packages) is used.
"""
import atexit
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import ports

TERN_BIN = os.environ.get("TERN_BIN", "")
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 30
CLI_TIMEOUT_S = 60

_live = set()


def _kill_all_at_exit():
    for p in list(_live):
        if p.poll() is None:
            p.kill()
            p.wait(5)


atexit.register(_kill_all_at_exit)


def free_port():
    """A port free right now on 127.0.0.1, never handed out before in this process (ports.py)."""
    return ports.free_port(LOOPBACK)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(cfg):
    """Top-level scalars first, then one [table] per dict value."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def merge(base, over):
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in (over or {}).items():
        if isinstance(v, dict):
            out.setdefault(k, {}).update(v)
        else:
            out[k] = v
    return out


class TernServer:
    """One `tern serve` process with its own data dir, config and ports."""

    def __init__(self, config=None, account=True, nofile=None, prepare=None):
        # nofile: RLIMIT_NOFILE (soft and hard) for the server process, to test descriptor limits.
        # prepare: called with the (empty) data dir before the first start, e.g. to fill it
        # with another node's files.
        self.nofile = nofile
        if not TERN_BIN or not os.access(TERN_BIN, os.X_OK):
            raise RuntimeError("TERN_BIN is not set to an executable tern binary")
        self.dir = tempfile.mkdtemp(prefix="tern-it-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        if prepare:
            prepare(self.data)
        self.ports = {name: free_port() for name in ("smtp", "submission", "submissions", "http")}
        base = {
            "hostname": "mx.test",
            "listen": {name: f"{LOOPBACK}:{port}" for name, port in self.ports.items()},
        }
        # Delivery runs only in tests that configure it: elsewhere accepted mail stays queued,
        # so what a test inspects never depends on the machine's DNS or network.
        if "delivery" not in (config or {}):
            base["delivery"] = {"enabled": False}
        else:
            # Custom relays in the tests are peers on 127.0.0.1, which the relay SSRF rules
            # refuse unless the operator allows them (a test may override with []).
            base["delivery"] = {"relay_allow": ["127.0.0.0/8"]}
        self.config = merge(base, config)
        self.config_path = os.path.join(self.dir, "tern.toml")
        with open(self.config_path, "w") as f:
            f.write(to_toml(self.config))
        self.proc = None
        self.serve_args = []
        self.log_path = None
        self.starts = 0
        self.username = self.password = None
        try:
            self.start()
            if account:
                self.create_account("acme", "acme.test")
        except BaseException:
            self.close()  # no process or temp dir outlives a failed start
            raise

    # --- process control -----------------------------------------------------------------
    def start(self):
        self.starts += 1
        self.log_path = os.path.join(self.dir, f"serve-{self.starts}.log")
        log = open(self.log_path, "wb")
        args = [TERN_BIN, "serve", "--data", self.data, "--config", self.config_path,
                "--hostname", self.config["hostname"]]
        for name, port in self.ports.items():
            args += [f"--{name}", f"{LOOPBACK}:{port}"]
        preexec = None
        if self.nofile:
            import resource
            n = self.nofile
            preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        args += self.serve_args  # e.g. ["--force"] for one start
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True, preexec_fn=preexec)
        log.close()
        _live.add(self.proc)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if b"tern ready" in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"tern serve exited with {self.proc.returncode}:\n"
                                   + self.log().decode(errors="replace")[-4000:])
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError("tern serve not ready within %ss:\n%s"
                           % (READY_TIMEOUT_S, self.log().decode(errors="replace")[-4000:]))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL if it does not stop in time. Returns the exit code."""
        p = self.proc
        if p is None or p.poll() is not None:
            return None if p is None else p.returncode
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            raise RuntimeError("tern serve did not stop within %ss of SIGTERM" % timeout)
        finally:
            _live.discard(p)

    def kill9(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)
        _live.discard(p)

    def close(self, keep_dir_on_failure=False):
        try:
            self.stop()
        finally:
            self.kill9()
            if not keep_dir_on_failure and not os.environ.get("TERN_IT_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)

    # --- CLI -----------------------------------------------------------------------------
    def cli(self, *args, check=True, timeout=CLI_TIMEOUT_S, raw=False):
        argv = [TERN_BIN, *args, "--data", self.data, "--config", self.config_path]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {r.returncode}: "
                                 f"{r.stderr.decode(errors='replace')}")
        return r if not check else (r.stdout if raw else r.stdout.decode())

    def cli_json(self, *args):
        out = self.cli(*args, "--json")
        try:
            return json.loads(out)
        except ValueError as e:
            raise AssertionError(f"tern {' '.join(args)} --json printed non-JSON: {out!r}") from e

    def create_account(self, name, domain):
        acct = self.cli_json("account", "create", name)
        assert acct.get("username") and acct.get("password"), acct
        self.cli("domain", "add", name, domain, "--verified")
        if name == "acme":
            self.username, self.password = acct["username"], acct["password"]
        return acct

    def queue(self):
        return self.cli_json("queue", "list")

    def raw(self, queue_id):
        return self.cli("queue", "show", queue_id, "--raw", raw=True)

    def port(self, name):
        return self.ports[name]


# --- raw SMTP -------------------------------------------------------------------------------
def client_tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
    return ctx


class Reply:
    def __init__(self, lines):
        self.lines = lines  # list of str, without CRLF
        self.code = int(lines[-1][:3])
        self.text = "\n".join(lines)

    def __repr__(self):
        return f"Reply({self.text!r})"


class RawSMTP:
    """A byte-exact SMTP client: send what the test says, read replies one at a time."""

    def __init__(self, port, tls=False, timeout=15, read_greeting=True, source=None):
        # source: a loopback address to connect from ("127.0.0.2"), to act as another client.
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock)
        self.buf = b""
        self.greeting = self.reply() if read_greeting else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise socket.timeout("no reply line")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by server; partial {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", errors="replace")

    def reply(self):
        lines = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise AssertionError(f"malformed reply line {line!r}")
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                return Reply(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def starttls(self):
        r = self.cmd("STARTTLS")
        assert r.code == 220, r
        assert not self.buf, f"bytes after the 220 to STARTTLS: {self.buf!r}"
        self.sock = client_tls_context().wrap_socket(self.sock)
        return r

    def auth_plain(self, user, password):
        import base64
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd(f"AUTH PLAIN {token}")

    def expect_closed(self, within=10):
        """True when the server closes the connection within `within` seconds (ignores replies
        that arrive first; those are returned as the second element)."""
        deadline = time.monotonic() + within
        got = self.buf
        self.buf = b""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                return True, got
            if not chunk:
                return True, got
            got += chunk
        return False, got

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def authed_session(server, port_name="submission", user=None, password=None):
    """EHLO, STARTTLS (or implicit TLS), EHLO, AUTH PLAIN as acme: a session ready for MAIL."""
    implicit = port_name == "submissions"
    s = RawSMTP(server.port(port_name), tls=implicit)
    assert s.greeting.code == 220, s.greeting
    assert s.cmd("EHLO client.test").code == 250
    if not implicit:
        s.starttls()
        assert s.cmd("EHLO client.test").code == 250
    r = s.auth_plain(user or server.username, password or server.password)
    assert r.code == 235, r
    return s


def api_call(server, method, path, token, body=None, timeout=30):
    """One REST call to server's API with a bearer token: (status, parsed JSON body) on 2xx,
    (status, raw body bytes) on an HTTP error. body, when given, is sent as JSON."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{LOOPBACK}:{server.port('http')}{path}", data=data,
                                 method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def message_bytes(sender, rcpts, subject="test", body="hello\r\n", extra_headers=()):
    hdrs = [f"From: <{sender}>", "To: " + ", ".join(f"<{r}>" for r in rcpts),
            f"Subject: {subject}", *extra_headers]
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode()
