"""Real mail peers for delivery tests: what Tern delivers to, each on 127.0.0.N with a free port.

    with Receiver(starttls=True, rcpt_replies={"nobody@dest.test": "550 5.1.1 No such user"}) as rx:
        ...                      # give Tern rx.host / rx.port (delivery.mx_port) or the smarthost
        msgs = rx.wait_for(1, timeout=20)
        msgs[0].data, msgs[0].tls, msgs[0].rcpt_tos, msgs[0].ehlo

    with AuthRelay("relayuser", "s3cret", security="tls") as relay:   # or "starttls" / "none"
        relay.ca_file            # the CA that signed its certificate (CN/SAN localhost, 127.0.0.N)

    with PostfixMX(["dest.test"]) as mx:   # a private Postfix: smtpd -> virtual(8) -> Maildir
        mx.wait_for(1)[0].raw    # the stored file, as Postfix wrote it (Return-Path etc. added)

    dns = mail_dns({"dest.test": [(10, "127.0.0.1"), (20, "127.0.0.2")]})   # dns_harness zones

Receiver and AuthRelay are aiosmtpd servers on a thread of this process; every transaction that
reaches the end of DATA is a Transaction (peer, ehlo, mail_from, rcpt_tos, exact content bytes as
received after dot-unstuffing, TLS or not, authenticated user). PostfixMX is a private Postfix
instance (`postfix -c DIR`: own config, queue and data directories, own log file), so it never
touches the system Postfix or the relay benchmark's instance; PrivatePostfix is its base and is
what bench/relay builds its Postfix + OpenDKIM relay from.

Invariants:
  - Peers listen on the given loopback address only (127.0.0.0/8; anything else is refused), on a
    port free at start. Since Tern's delivery.mx_port is one port for every MX host, two MX hosts
    with different behaviour must differ by address: bind them to 127.0.0.1 and 127.0.0.2.
  - Every peer is a context manager; close() is idempotent and also runs at exit; Postfix is
    stopped with `postfix -c DIR stop` and its master is killed by pid if it does not go.
  - Every wait is bounded. Values that end up in config files or SMTP replies are validated
    first (no CR/LF, no spaces in names, replies "DDD text"): a bad argument raises ValueError.
  - Only /usr/bin/python3 with Debian's python3-aiosmtpd is used; certificates come from the
    openssl CLI.
"""
import asyncio
import atexit
import ipaddress
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import ports

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd warns on every start of a plaintext-AUTH or implicit-TLS relay (both on purpose here)
# and on its own use of a deprecated field; keep test output readable.
logging.getLogger("mail.log").setLevel(logging.ERROR)

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 20
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_ADDR_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}$")
_REPLY_RE = re.compile(r"^[2-5][0-9][0-9]( [\x20-\x7e]*)?$")

_live = set()


def _close_all_at_exit():
    for peer in list(_live):
        try:
            peer.close()
        except Exception:
            pass


atexit.register(_close_all_at_exit)


# --- small helpers ------------------------------------------------------------------------------
def check_host(host):
    """host must be an IPv4 loopback address (127.0.0.0/8); returns it normalized."""
    try:
        ip = ipaddress.IPv4Address(host)
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"peer host must be an IPv4 loopback address, not {host!r}") from None
    if not ip.is_loopback:
        raise ValueError(f"peer host must be in 127.0.0.0/8, not {host}")
    return str(ip)


def free_port(host=LOOPBACK):
    """A TCP port free right now on host, never handed out before in this process (ports.py)."""
    return ports.free_port(check_host(host))


def check_domain(d):
    if not isinstance(d, str) or not _DOMAIN_RE.match(d.lower()):
        raise ValueError(f"not a domain name: {d!r}")
    return d.lower()


def check_address(a):
    if not isinstance(a, str) or not _ADDR_RE.match(a) or ".." in a:
        raise ValueError(f"not a plain mail address: {a!r}")
    local, domain = a.rsplit("@", 1)
    return f"{local}@{check_domain(domain)}"


def check_reply(r):
    """An SMTP reply line a peer may send: 'DDD text', printable ASCII, no CR/LF."""
    if not isinstance(r, str) or not _REPLY_RE.match(r):
        raise ValueError(f"not a one-line SMTP reply 'DDD text': {r!r}")
    return r


def wait_port(host, port, timeout=START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout}s")


def _run(argv, timeout=30):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


class TestCert:
    """A throwaway CA and a server certificate it signed: CN localhost, SAN DNS:localhost plus
    IP 127.0.0.1 and the extra IPs given. EC P-256 (fast to make). Files live in `dir`."""

    def __init__(self, dir, ips=(LOOPBACK,), name="localhost"):
        if not re.match(r"^[a-z0-9.-]{1,253}$", name):
            raise ValueError(f"bad certificate name {name!r}")
        ips = sorted({LOOPBACK, *(check_host(i) for i in ips)})
        os.makedirs(dir, exist_ok=True)
        self.ca_file = os.path.join(dir, "ca.pem")
        self.ca_key = os.path.join(dir, "ca.key")
        self.cert_file = os.path.join(dir, "cert.pem")
        self.key_file = os.path.join(dir, "key.pem")
        csr = os.path.join(dir, "cert.csr")
        ext = os.path.join(dir, "cert.ext")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _run(["openssl", "req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca_file,
              "-days", "3", "-subj", "/CN=Tern test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        _run(["openssl", "req", *ec, "-keyout", self.key_file, "-out", csr,
              "-subj", f"/CN={name}"])
        san = ",".join([f"DNS:{name}"] + [f"IP:{i}" for i in ips])
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", self.ca_key,
              "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "3",
              "-extfile", ext, "-out", self.cert_file])
        os.chmod(self.key_file, 0o644)  # read by Postfix's smtpd, by design of a test cert

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self):
        """A client context that verifies against this CA (what Tern does with ca_file)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx


# --- aiosmtpd peers -----------------------------------------------------------------------------
@dataclass
class Transaction:
    peer: Tuple[str, int]
    ehlo: Optional[str]
    mail_from: str
    rcpt_tos: List[str]
    data: bytes                 # content as received, after dot-unstuffing, CRLF line ends
    tls: bool
    tls_version: Optional[str] = None
    auth_user: Optional[str] = None
    mail_options: List[str] = field(default_factory=list)
    rejected_rcpts: List[Tuple[str, str]] = field(default_factory=list)  # (address, reply)
    reply: str = "250 OK"       # what the peer answered at the end of DATA
    session: int = 0            # connection number (1, 2, ...): equal means one connection


class _Handler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # aiosmtpd leaves this to a handler that has the hook
        self.peer._new_connection(server)
        if self.peer.no_8bitmime:  # a 7-bit-only hop (RFC 6152): the keyword is not offered
            responses = [r for r in responses if r[4:].upper() != "8BITMIME"]
            responses[-1] = "250 " + responses[-1][4:]
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self.peer._new_connection(server)
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.tern_rejected = []
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.peer.rcpt_replies.get(address.lower())
        if reply is not None and not reply.startswith("2"):
            if not hasattr(envelope, "tern_rejected"):
                envelope.tern_rejected = []
            envelope.tern_rejected.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return reply or "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.peer.data_delay:
            await asyncio.sleep(self.peer.data_delay)
        return self.peer._end_of_data(server, session, envelope)


class _AioPeer:
    """Common part of Receiver and AuthRelay: an aiosmtpd Controller plus the record."""

    def __init__(self, host=LOOPBACK, port=None, rcpt_replies=None, tempfail_first=0,
                 tempfail_reply="451 4.3.0 Try again later", data_delay=0.0, name="rx.test",
                 data_size_limit=0, no_8bitmime=False):
        self.host = check_host(host)
        self.port = int(port) if port else free_port(self.host)
        if not 0 < self.port < 65536:
            raise ValueError(f"bad port {port!r}")
        self.rcpt_replies = {check_address(k).lower(): check_reply(v)
                             for k, v in (rcpt_replies or {}).items()}
        if int(tempfail_first) < 0:
            raise ValueError("tempfail_first must be >= 0")
        self.tempfail_first = int(tempfail_first)
        self.tempfail_reply = check_reply(tempfail_reply)
        if not self.tempfail_reply.startswith("4"):
            raise ValueError(f"tempfail_reply must be a 4xx reply: {tempfail_reply!r}")
        if not 0 <= float(data_delay) <= 600:
            raise ValueError("data_delay must be within 0..600 s")
        self.data_delay = float(data_delay)
        self.name = check_domain(name)
        self.data_size_limit = int(data_size_limit)
        self.no_8bitmime = bool(no_8bitmime)
        self.transactions = []   # every transaction that reached the end of DATA
        self.messages = []       # the accepted ones (2xx at the end of DATA)
        self.sessions = 0
        self._cond = threading.Condition()
        self._controller = None
        self._dir = tempfile.mkdtemp(prefix="tern-peer-")

    # subclasses: the aiosmtpd keyword arguments (TLS, AUTH)
    def _smtp_kwargs(self):
        return {}

    def _implicit_tls(self):
        return None

    def start(self):
        kw = dict(self._smtp_kwargs())
        with warnings.catch_warnings():  # unittest resets filters; see the top of the file
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            self._controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, server_hostname=self.name,
                ssl_context=self._implicit_tls(), ready_timeout=START_TIMEOUT_S,
                data_size_limit=self.data_size_limit or None, **kw)
            self._controller.start()
        _live.add(self)
        return self

    def close(self):
        c, self._controller = self._controller, None
        if c is not None:
            try:
                c.stop()
            except AssertionError:
                pass
        _live.discard(self)
        if self._dir and os.path.isdir(self._dir):
            shutil.rmtree(self._dir, ignore_errors=True)

    stop = close

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    # --- called on the server's thread ---------------------------------------------------------
    def _new_connection(self, server):
        # One aiosmtpd SMTP object per connection (its Session is replaced at STARTTLS).
        with self._cond:
            if not hasattr(server, "tern_no"):
                self.sessions += 1
                server.tern_no = self.sessions

    def _end_of_data(self, server, session, envelope):
        ssl_obj = server.transport.get_extra_info("ssl_object") if server.transport else None
        auth = session.auth_data
        user = None
        if session.authenticated and isinstance(auth, LoginPassword):
            user = auth.login.decode("utf-8", "replace")
        with self._cond:
            n = len(self.transactions)
            reply = self.tempfail_reply if n < self.tempfail_first else "250 OK"
            t = Transaction(
                peer=tuple(session.peer[:2]) if session.peer else ("", 0),
                ehlo=session.host_name, mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos), data=bytes(envelope.original_content or b""),
                tls=ssl_obj is not None, tls_version=ssl_obj.version() if ssl_obj else None,
                auth_user=user, mail_options=list(envelope.mail_options),
                rejected_rcpts=list(getattr(envelope, "tern_rejected", [])), reply=reply,
                session=getattr(server, "tern_no", 0))
            self.transactions.append(t)
            if reply.startswith("2"):
                self.messages.append(t)
            self._cond.notify_all()
        return reply

    # --- test side ---------------------------------------------------------------------------
    def wait_for(self, n, timeout=30):
        """Blocks until at least n messages were accepted; returns a copy of the list. Raises
        AssertionError (with what did arrive) when the time is up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{type(self).__name__} {self.addr}: {len(self.messages)} of {n} "
                        f"messages within {timeout}s; transactions: {self.transactions!r}")
                self._cond.wait(left)
            return list(self.messages)


class Receiver(_AioPeer):
    """A receiving MX. starttls=True offers STARTTLS with a throwaway CA-signed certificate
    (self.cert.ca_file); rcpt_replies maps an address to the reply its RCPT gets (non-2xx ones
    are refused and listed in rejected_rcpts); tempfail_first=N answers the end of DATA of the
    first N transactions with tempfail_reply (451), later ones 250; data_delay waits that many
    seconds before answering the end of DATA."""

    def __init__(self, host=LOOPBACK, port=None, starttls=False, **kw):
        super().__init__(host, port, **kw)
        self.cert = TestCert(os.path.join(self._dir, "tls"), ips=[self.host]) if starttls else None

    @property
    def ca_file(self):
        return self.cert.ca_file if self.cert else None

    def _smtp_kwargs(self):
        if not self.cert:
            return {}
        return {"tls_context": self.cert.server_context(), "require_starttls": False}


class AuthRelay(_AioPeer):
    """An upstream relay requiring AUTH (PLAIN, LOGIN) as username/password.
    security="starttls": STARTTLS required before anything else (530 otherwise), AUTH only
    after it; "tls": implicit TLS from the first byte (SMTPS); "none": plaintext, AUTH allowed
    without TLS. The certificate (CN/SAN localhost, SAN IP = host) is signed by self.ca_file."""

    SECURITIES = ("starttls", "tls", "none")

    def __init__(self, username, password, host=LOOPBACK, port=None, security="starttls", **kw):
        if security not in self.SECURITIES:
            raise ValueError(f"security must be one of {self.SECURITIES}, not {security!r}")
        for what, v in (("username", username), ("password", password)):
            if not isinstance(v, str) or not v or any(c in v for c in "\0\r\n"):
                raise ValueError(f"{what} must be non-empty text without NUL/CR/LF")
        super().__init__(host, port, **kw)
        self.username, self.password, self.security = username, password, security
        self.cert = TestCert(os.path.join(self._dir, "tls"), ips=[self.host])
        self.auth_attempts = []  # (mechanism, username, ok)

    @property
    def ca_file(self):
        return self.cert.ca_file

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = False
        user = None
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            ok = (user == self.username
                  and auth_data.password.decode("utf-8", "replace") == self.password)
        with self._cond:
            self.auth_attempts.append((mechanism, user, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _smtp_kwargs(self):
        kw = {"authenticator": self._authenticator, "auth_required": True}
        if self.security == "starttls":
            kw.update(tls_context=self.cert.server_context(), require_starttls=True,
                      auth_require_tls=True)
        else:
            # implicit TLS: aiosmtpd only knows STARTTLS as "TLS", so its own check is off; the
            # socket is encrypted from the first byte. "none": plaintext AUTH on purpose.
            kw.update(auth_require_tls=False)
        return kw

    def _implicit_tls(self):
        return self.cert.server_context() if self.security == "tls" else None


# --- Postfix ------------------------------------------------------------------------------------
def _postfix_master_cf(host, port, smtpd_args=()):
    """Debian's master.cf with the `smtp inet` line on host:port, chroot off everywhere (the
    queue is a temp dir, not /var/spool/postfix), and extra -o options for that smtpd."""
    out = []
    with open("/etc/postfix/master.cf") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and not line[0].isspace() and not line.startswith("#"):
                if parts[0] == "smtp" and parts[1] == "inet":
                    parts[0] = f"{host}:{port}"
                    parts += list(smtpd_args)
                parts[4] = "n"
                line = " ".join(parts) + "\n"
            out.append(line)
    return "".join(out)


class PrivatePostfix:
    """A Postfix instance of its own: config_directory, queue_directory and data_directory (where
    master.lock lives) under one temp dir in /var/tmp (maillog_file must be under /var, see
    PEERS.md), smtpd on host:port. main_cf: extra main.cf settings (name -> value), validated to
    be one line each. Start with start(); stop with close()."""

    def __init__(self, main_cf=None, host=LOOPBACK, port=None, name="pf", smtpd_args=()):
        self.pid = self.base = None
        self.host = check_host(host)
        self.port = int(port) if port else free_port(self.host)
        self.base = tempfile.mkdtemp(prefix=f"tern-{name}-", dir="/var/tmp")
        os.chmod(self.base, 0o755)
        self.conf = os.path.join(self.base, "conf")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "postfix.log")
        for d in (self.conf, self.queue, self.data):
            os.makedirs(d)
        shutil.chown(self.data, "postfix")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "maillog_file": self.log,
            "syslog_name": f"postfix-{name}-{self.port}",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": f"{name}.test",
            "mydestination": "",
            # Postfix refuses inet_interfaces that are not interface addresses (127.0.0.2 is
            # not one, only routed to lo); the master.cf line binds host:port by itself.
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtpd_peername_lookup": "no",
            "in_flow_delay": "0s",
        }
        self._settings = settings
        try:
            self.configure(main_cf or {})
            for a in smtpd_args:
                if not re.match(r"^-o$|^[a-z0-9_]+=[^\s]*$", a):
                    raise ValueError(f"bad smtpd argument {a!r}")
            with open(os.path.join(self.conf, "master.cf"), "w") as f:
                f.write(_postfix_master_cf(self.host, self.port, smtpd_args))
        except BaseException:
            self.close()
            raise

    def configure(self, settings):
        """Merges settings into main.cf and rewrites it (one line per setting). A running
        instance needs reload() to see the change."""
        for k, v in settings.items():
            if not re.match(r"^[a-z0-9_]+$", k) or any(c in str(v) for c in "\r\n\0"):
                raise ValueError(f"bad main.cf setting {k!r} = {v!r}")
        self._settings.update(settings)
        path = os.path.join(self.conf, "main.cf")
        with open(path + ".tmp", "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in self._settings.items()))
        os.replace(path + ".tmp", path)

    def reload(self):
        _run(["postfix", "-c", self.conf, "reload"])

    def postconf(self, *args):
        return _run(["postconf", "-c", self.conf, *args])

    def start(self):
        r = subprocess.run(["postfix", "-c", self.conf, "start"], capture_output=True, text=True,
                           timeout=60)
        _live.add(self)
        if r.returncode != 0:
            check = subprocess.run(["postfix", "-v", "-c", self.conf, "check"],
                                   capture_output=True, text=True, timeout=60)
            self.close()
            raise RuntimeError(f"postfix -c {self.conf} start exited {r.returncode}: "
                               f"{r.stdout}{r.stderr}\n{self.log_tail()}\n"
                               f"postfix check: {check.stderr[-2000:]}")
        try:
            wait_port(self.host, self.port)
        except RuntimeError as e:
            self.close()
            raise RuntimeError(f"{e}\n{self.log_tail()}") from None
        with open(os.path.join(self.data, "master.lock")) as f:
            self.pid = int(f.read().split()[0])
        return self

    def log_tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(no postfix log)"

    def queued(self):
        """Messages in the queue now (unique queue ids; qmgr renames files while we walk)."""
        ids = set()
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                ids.update(files)
        return len(ids)

    def deferred(self):
        n = 0
        for _, _, files in os.walk(os.path.join(self.queue, "deferred")):
            n += len(files)
        return n

    def stop(self):
        if self.pid is None and self.base:  # start() failed half-way: a master may still run
            try:
                with open(os.path.join(self.data, "master.lock")) as f:
                    self.pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                return
        if self.pid is None:
            return
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True, timeout=60)
        for _ in range(100):  # postfix stop returns before the master is gone
            if not os.path.exists(f"/proc/{self.pid}"):
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid = None

    def close(self):
        try:
            self.stop()
        finally:
            _live.discard(self)
            if self.base and os.path.isdir(self.base) and not os.environ.get("TERN_IT_KEEP"):
                shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


@dataclass
class StoredMessage:
    rcpt: str        # mailbox it was delivered to (Delivered-To, lower case)
    path: str
    raw: bytes       # the file as virtual(8) wrote it: LF line ends, Return-Path etc. prepended

    def headers_added(self):
        """The header fields Postfix put on top (Return-Path, X-Original-To, Delivered-To,
        Received by this MX), unfolded, in order."""
        out = []
        for name, value in _fields(self.raw):
            if name.lower() in ("return-path", "x-original-to", "delivered-to"):
                out.append((name, value))
            elif name.lower() == "received" and not any(n.lower() == "received" for n, _ in out):
                out.append((name, value))
            else:
                break
        return out

    def as_sent(self):
        """The message as the client sent it: Postfix's added fields removed, CRLF line ends."""
        lines = self.raw.split(b"\n")
        skip = 0
        added = self.headers_added()
        i = 0
        while skip < len(added) and i < len(lines):
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            skip += 1
        return b"\r\n".join(lines[i:])


def _fields(raw):
    head = raw.split(b"\n\n", 1)[0]
    out = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += b" " + line.strip()
        elif b":" in line:
            n, v = line.split(b":", 1)
            out.append([n.decode(errors="replace"), v.strip()])
    return [(n, v.decode(errors="replace")) for n, v in out]


class PostfixMX(PrivatePostfix):
    """A private Postfix as the receiving MX of `domains` on host:port. Mail to
    LOCAL@DOMAIN goes through virtual(8) into a Maildir under the temp dir
    (files owned by nobody; see messages()). mailboxes=None accepts every local part; a list accepts only those
    addresses (others: 550 5.1.1 at RCPT). Nothing is relayed onwards (mail to other domains is
    refused at RCPT). starttls=True offers STARTTLS with a throwaway CA-signed certificate."""

    def __init__(self, domains, host=LOOPBACK, port=None, mailboxes=None, starttls=False,
                 message_size_limit=None):
        if isinstance(domains, str) or not domains:
            raise ValueError("domains must be a non-empty list of domain names")
        self.domains = [check_domain(d) for d in domains]
        self.mailboxes = None if mailboxes is None else [check_address(a) for a in mailboxes]
        for a in self.mailboxes or []:
            if a.rsplit("@", 1)[1] not in self.domains:
                raise ValueError(f"mailbox {a} is not in one of the domains {self.domains}")
        try:
            super().__init__({}, host=host, port=port, name="mx")
            self._configure_mx(starttls, message_size_limit)
        except BaseException:
            self.close()
            raise

    def _configure_mx(self, starttls, message_size_limit):
        self.mail = os.path.join(self.base, "mail")
        os.makedirs(self.mail)
        shutil.chown(self.mail, "nobody", "nogroup")
        maps = os.path.join(self.conf, "virtual_mailboxes.regexp")
        with open(maps, "w") as f:
            # virtual(8) forbids $N substitution from regexp maps: any-user mode is one shared
            # Maildir (the recipient is in Delivered-To), a mailbox list one Maildir each.
            if self.mailboxes is None:
                f.write("/@/ all/\n")
            else:
                for i, a in enumerate(self.mailboxes):
                    f.write(f"/^{re.escape(a.lower())}$/ box{i}/\n")
        main = {
            "myhostname": f"mx.{self.domains[0]}",
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": f"regexp:{maps}",
            "virtual_uid_maps": "static:65534",
            "virtual_gid_maps": "static:65534",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "default_transport": "error:5.7.1 test MX does not relay",
            "relay_transport": "error:5.7.1 test MX does not relay",
            "smtputf8_enable": "yes",
            "local_header_rewrite_clients": "",  # store what the client sent, add no Date etc.
        }
        if message_size_limit:
            main["message_size_limit"] = str(int(message_size_limit))
        if starttls:
            self.cert = TestCert(os.path.join(self.base, "tls"), ips=[self.host])
            main.update(smtpd_tls_security_level="may", smtpd_tls_cert_file=self.cert.cert_file,
                        smtpd_tls_key_file=self.cert.key_file,
                        smtpd_tls_received_header="yes")
        else:
            self.cert = None
            main["smtpd_tls_security_level"] = "none"
        self.configure(main)

    def messages(self):
        """Every message stored so far, one per recipient, oldest first (by file name:
        time.seq.host). The recipient is the Delivered-To field virtual(8) put on top."""
        out = []
        for box in sorted(os.listdir(self.mail)):
            for sub in ("new", "cur"):
                d = os.path.join(self.mail, box, sub)
                if not os.path.isdir(d):
                    continue
                for name in os.listdir(d):
                    p = os.path.join(d, name)
                    with open(p, "rb") as f:
                        raw = f.read()
                    rcpt = next((v for n, v in _fields(raw) if n.lower() == "delivered-to"), "")
                    out.append((name, StoredMessage(rcpt.lower(), p, raw)))
        out.sort(key=lambda x: x[0])
        return [m for _, m in out]

    def wait_for(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n:
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"PostfixMX {self.host}:{self.port}: {len(msgs)} of {n} "
                                     f"messages within {timeout}s; log:\n{self.log_tail()}")
            time.sleep(0.1)


# --- DNS for delivery tests ---------------------------------------------------------------------
def mx_records(domain, mxes):
    """Zone lines for `domain` with MX hosts. mxes: list of (preference, ip) — host names
    mx1.DOMAIN, mx2.DOMAIN, ... are made up — or (preference, host, ip) with a host inside the
    zone (relative name) or a fully qualified name ending in '.' (then no A record is added
    here). An empty list gives a null MX (RFC 7505); None gives no MX at all (implicit MX:
    put '@ A ...' in extra records yourself)."""
    domain = check_domain(domain)
    if mxes is None:
        return []
    if not mxes:
        return ["@ MX 0 ."]
    out = []
    for i, mx in enumerate(mxes, 1):
        if len(mx) == 2:
            pref, ip = mx
            host = f"mx{i}"
        elif len(mx) == 3:
            pref, host, ip = mx
        else:
            raise ValueError(f"MX entry must be (pref, ip) or (pref, host, ip): {mx!r}")
        if not isinstance(pref, int) or not 0 <= pref <= 65535:
            raise ValueError(f"bad MX preference {pref!r}")
        if not re.match(r"^[a-z0-9.-]+$", host.lower()) or host.startswith("."):
            raise ValueError(f"bad MX host {host!r}")
        out.append(f"@ MX {pref} {host}")
        if not host.endswith("."):
            try:
                a = ipaddress.IPv4Address(ip)
            except (ipaddress.AddressValueError, ValueError):
                raise ValueError(f"bad MX address {ip!r}") from None
            out.append(f"{host} A {a}")
    return out


def mail_dns(domains, extra=None, ttl=0):
    """Starts nsd + unbound (dns_harness.DnsServers) serving one zone per domain with its MX
    records (see mx_records) plus `extra` zone lines per zone ({zone: [lines]}, zones that are
    only in `extra` are served too). Returns the DnsServers: give Tern dns.resolver_addr."""
    from dns_harness import DnsServers  # noqa: E402  (python3-dnspython)
    zones = {}
    for d, mxes in domains.items():
        zones[check_domain(d)] = mx_records(d, mxes)
    for z, lines in (extra or {}).items():
        zones.setdefault(check_domain(z), []).extend(lines)
    return DnsServers(zones, ttl=ttl)
