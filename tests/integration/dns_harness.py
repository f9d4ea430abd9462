"""Real DNS servers for integration tests: nsd serves the test zones, unbound resolves them.

Why both: unbound alone (local-data) does not follow a CNAME into another local zone, and DKIM
delegation is exactly that (`sel._domainkey.customer.test CNAME ...dkim.platform.test`). With
nsd as the authoritative server and unbound recursing into it through one stub-zone per zone,
CNAMEs across zones resolve like on the Internet (see /work/shared/PEERS.md).

    dns = DnsServers({"acme.test": ['@ TXT "v=spf1 -all"', "www A 192.0.2.1"]})
    dns.resolver_addr      # "127.0.0.1:PORT" — give this to Tern (dns.resolver) or the probe
    dns.update("acme.test", [...])   # rewrite one zone; answers change at once
    dns.close()

Records are zone-file lines relative to the zone ($ORIGIN is the zone); the harness adds the
SOA, an NS record (ns.<zone>, 127.0.0.1) and `$TTL` (default 0, so nothing — not unbound, not
a long-lived libunbound inside Tern — serves stale answers after update()).

Invariants:
  - Both daemons run in the foreground as children of this process, listen on 127.0.0.1 only,
    on ports free at start (UDP and TCP), with every file (config, zones, pid, db, logs) inside
    one temp dir that close() removes. close() is idempotent and also runs at exit.
  - Every wait is bounded; a daemon that dies or never answers raises with its log attached.
  - Only /usr/bin/python3 with Debian's python3-dnspython is used.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import ports

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

LOOPBACK = "127.0.0.1"
NSD = "/usr/sbin/nsd"
UNBOUND = "/usr/sbin/unbound"
START_TIMEOUT_S = 20

_live = set()


def _close_all_at_exit():
    for servers in list(_live):
        servers.close()


atexit.register(_close_all_at_exit)


def free_udp_tcp_port():
    """A port free right now for both UDP and TCP on 127.0.0.1, never handed out before (ports.py)."""
    return ports.free_port(LOOPBACK, udp=True)


def query(server_port, name, rdtype, timeout=1.0):
    """One UDP query to 127.0.0.1:server_port; returns the dnspython response (or raises)."""
    q = dns.message.make_query(name, rdtype)
    return dns.query.udp(q, LOOPBACK, port=server_port, timeout=timeout)


def _tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


class DnsServers:
    def __init__(self, zones, ttl=0):
        """zones: {"zone.test": ["record line", ...]}; ttl: the zones' $TTL."""
        if not zones:
            raise ValueError("DnsServers needs at least one zone")
        self.zones = {self._zone_name(z): list(r) for z, r in zones.items()}
        self.ttl = int(ttl)
        self.serial = int(time.time()) % 1000000000
        self.dir = tempfile.mkdtemp(prefix="tern-dns-")
        self.nsd = self.unbound = None
        self.nsd_port = self.unbound_port = None
        _live.add(self)
        try:
            for zone in self.zones:
                self._write_zone(zone)
            self.nsd_port = free_udp_tcp_port()
            self._write_nsd_conf()
            self._start_nsd()
            self.unbound_port = free_udp_tcp_port()
            self._write_unbound_conf()
            self._start_unbound()
        except BaseException:
            self.close()
            raise

    @property
    def resolver_addr(self):
        return f"{LOOPBACK}:{self.unbound_port}"

    @property
    def authoritative_addr(self):
        return f"{LOOPBACK}:{self.nsd_port}"

    # --- zones -----------------------------------------------------------------------------
    @staticmethod
    def _zone_name(zone):
        z = zone.strip().rstrip(".").lower()
        if not z or any(c in z for c in " \t\n\"/;"):
            raise ValueError(f"bad zone name {zone!r}")
        return z

    def _zone_path(self, zone):
        return os.path.join(self.dir, f"{zone}.zone")

    def _write_zone(self, zone):
        records = self.zones[zone]
        for r in records:
            if "\n" in r:
                raise ValueError(f"one record per line: {r!r}")
        text = [
            f"$ORIGIN {zone}.",
            f"$TTL {self.ttl}",
            f"@ IN SOA ns.{zone}. hostmaster.{zone}. {self.serial} 3600 600 86400 {self.ttl}",
            f"@ IN NS ns.{zone}.",
            f"ns IN A {LOOPBACK}",
        ] + records
        path = self._zone_path(zone)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(text) + "\n")
        os.replace(tmp, path)

    def update(self, zone, records):
        """Replaces one zone's records; returns once nsd serves the new serial and unbound's
        cache is gone (unbound is restarted: no remote control by design)."""
        zone = self._zone_name(zone)
        if zone not in self.zones:
            raise KeyError(f"unknown zone {zone} (zones are fixed at start)")
        self.zones[zone] = list(records)
        self.serial += 1
        self._write_zone(zone)
        # nsd rereads zone files whose mtime changed on SIGHUP; push the mtime forward so a
        # rewrite within the same clock tick is still seen.
        future = time.time() + 1
        os.utime(self._zone_path(zone), (future, future))
        self.nsd.send_signal(signal.SIGHUP)
        self._wait(lambda: self._serial_at(self.nsd_port, zone) == self.serial, self.nsd,
                   self.nsd_log, f"nsd serving serial {self.serial} of {zone}")
        self._stop(self.unbound)
        self._start_unbound()

    # --- nsd -------------------------------------------------------------------------------
    def _write_nsd_conf(self):
        d = self.dir
        self.nsd_log = os.path.join(d, "nsd.log")
        lines = [
            "server:",
            f'  ip-address: {LOOPBACK}',
            f"  port: {self.nsd_port}",
            "  do-ip6: no",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{d}"',
            f'  pidfile: "{d}/nsd.pid"',
            '  database: ""',
            f'  xfrdfile: "{d}/xfrd.state"',
            f'  zonelistfile: "{d}/zone.list"',
            f'  xfrdir: "{d}"',
            f'  logfile: "{self.nsd_log}"',
            "  server-count: 1",
            "  verbosity: 1",
            "  hide-version: yes",
            "remote-control:",
            "  control-enable: no",
        ]
        for zone in self.zones:
            lines += ["zone:", f'  name: "{zone}"', f'  zonefile: "{self._zone_path(zone)}"']
        self.nsd_conf = os.path.join(d, "nsd.conf")
        with open(self.nsd_conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        check = subprocess.run(["/usr/sbin/nsd-checkconf", self.nsd_conf],
                               capture_output=True, text=True, timeout=10)
        if check.returncode != 0:
            raise RuntimeError(f"nsd.conf rejected: {check.stdout}{check.stderr}")

    def _start_nsd(self):
        out = open(os.path.join(self.dir, "nsd.out"), "ab")
        self.nsd = subprocess.Popen([NSD, "-d", "-c", self.nsd_conf], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out, start_new_session=True)
        out.close()
        for zone in self.zones:
            self._wait(lambda z=zone: self._serial_at(self.nsd_port, z) == self.serial, self.nsd,
                       self.nsd_log, f"nsd serving {zone}")

    # --- unbound ---------------------------------------------------------------------------
    def _write_unbound_conf(self):
        d = self.dir
        self.unbound_log = os.path.join(d, "unbound.log")
        lines = [
            "server:",
            f"  interface: {LOOPBACK}",
            f"  port: {self.unbound_port}",
            "  do-ip6: no",
            '  username: ""',
            '  chroot: ""',
            f'  directory: "{d}"',
            f'  pidfile: "{d}/unbound.pid"',
            f'  logfile: "{self.unbound_log}"',
            "  use-syslog: no",
            "  verbosity: 1",
            "  num-threads: 1",
            "  access-control: 127.0.0.0/8 allow",
            "  do-not-query-localhost: no",
            '  module-config: "iterator"',
            # Negative answers and SERVFAILs are not kept past the zones' own TTLs either.
            f"  cache-max-negative-ttl: {max(self.ttl, 1)}",
            "  infra-host-ttl: 5",
        ]
        # unbound ships default local zones (test., invalid., localhost., onion., ...) that
        # answer NXDOMAIN by themselves: switch off the one above each zone, and the zone's own.
        tops = set()
        for zone in self.zones:
            lines += [f'  domain-insecure: "{zone}."', f'  local-zone: "{zone}." nodefault']
            tops.add(zone.rsplit(".", 1)[-1])
        for top in sorted(tops):
            lines += [f'  local-zone: "{top}." nodefault', f'  domain-insecure: "{top}."']
        for zone in self.zones:
            lines += ["stub-zone:", f'  name: "{zone}."', f"  stub-addr: {LOOPBACK}@{self.nsd_port}"]
        lines += ["remote-control:", "  control-enable: no"]
        self.unbound_conf = os.path.join(d, "unbound.conf")
        with open(self.unbound_conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        check = subprocess.run(["/usr/sbin/unbound-checkconf", self.unbound_conf],
                               capture_output=True, text=True, timeout=10)
        if check.returncode != 0:
            raise RuntimeError(f"unbound.conf rejected: {check.stdout}{check.stderr}")

    def _start_unbound(self):
        out = open(os.path.join(self.dir, "unbound.out"), "ab")
        self.unbound = subprocess.Popen([UNBOUND, "-d", "-c", self.unbound_conf],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                        start_new_session=True)
        out.close()
        for zone in self.zones:
            self._wait(lambda z=zone: self._serial_at(self.unbound_port, z) is not None,
                       self.unbound, self.unbound_log, f"unbound resolving {zone}")

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _serial_at(port, zone):
        try:
            r = query(port, zone + ".", dns.rdatatype.SOA, timeout=0.5)
        except Exception:
            return None
        if r.rcode() != dns.rcode.NOERROR:
            return None
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return rrset[0].serial
        return None

    def _wait(self, ready, proc, log, what):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: exited with {proc.returncode}\n{self._logs(log)}")
            if ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{what}: not ready after {START_TIMEOUT_S}s\n{self._logs(log)}")

    def _logs(self, log):
        return _tail(log) + _tail(os.path.join(self.dir, "nsd.out")) + \
            _tail(os.path.join(self.dir, "unbound.out"))

    @staticmethod
    def _stop(proc):
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def close(self):
        self._stop(self.unbound)
        self._stop(self.nsd)
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def txt_lookup(resolver_addr):
    """A dkimpy `dnsfunc` that asks the test resolver ("IP:PORT") for TXT records (CNAMEs
    followed); b"" when there is no answer."""
    import dns.resolver  # python3-dnspython
    host, port = resolver_addr.rsplit(":", 1)
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = int(port)
    res.lifetime = 5

    def dnsfunc(name, timeout=5):
        qname = name.decode() if isinstance(name, bytes) else name
        try:
            ans = res.resolve(qname.rstrip("."), "TXT")
        except Exception:
            return b""
        return b"".join(b"".join(r.strings) for r in ans)
    return dnsfunc
