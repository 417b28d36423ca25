"""The egress proxy: the only network ``commands.setup`` ever has, and what it did with it
(docs/sandbox.md, "The egress proxy", says each rule and why).

Debian's squid in a sandbox of its own that shares the host's network, one per allow-list:
per set-up, or one for every set-up of a cycle (``harness.sandbox.shared``). It admits the hosts of
``network.allow`` only, and refuses a name any of whose addresses is not a global unicast
address (``unreachable``, derived from Python's ``ipaddress``, checked by squid on the
addresses it connects to). The set-up runs with ``--unshare-net``; its one way out is a Unix
socket (``relay.py``) on which a ``socat`` of its own connects to squid from a loopback
address of its own, which squid's log names, so each set-up's ``record`` holds its
connections and no other's."""

from __future__ import annotations

import ipaddress
import itertools
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, collapse_addresses, ip_network
from pathlib import Path
from typing import Any

import psutil

from harness.artifacts import Connection, NetworkRecord
from harness.config.network import parse_host
from harness.engine.templates import Templates
from harness.errors import SandboxError
from harness.sandbox.app import free_port
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.limits import Cgroup, Limits
from harness.sandbox.shared import own_folder, service

SEEN_AT = Path("/run/factory-egress")  # the proxy's folder, inside its own sandbox
HOSTS = Path("/etc/hosts")  # the names squid resolves without DNS (copied into its folder)
READY = "Accepting HTTP Socket connections"  # squid's line in cache.log once it listens
START_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 30.0
MAX_RECORDED = 1000  # connections kept one by one; more are counted in ``dropped``
_NOT_HOST = re.compile(r"[^A-Za-z0-9.:_\[\]-]")
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
_SQUID = "exec {squid} -N -f {folder}/squid.conf >{folder}/proxy.log 2>&1"
# one set-up's relay: its socket, connecting to squid from the set-up's own address
_RELAY = "exec {socat} UNIX-LISTEN:{folder}/{name},fork,mode=0666 TCP:127.0.0.1:{port},bind={at}"
_OPEN = ("01", "03", "08")  # a socket squid still holds: established, SYN received, close-wait
# IPv4 inside IPv6: NAT64 and 6to4 embed it (IPv4-mapped space is refused whole, in the table)
_EMBEDDING = ("64:ff9b::/96", "2002::/16")
# IPv4-compatible addresses (with :: and ::1) and NAT64's local-use prefix (RFC 8215)
_REFUSED_TOO = ("::/96", "64:ff9b:1::/48")
# Not global, yet left out: the documentation and benchmarking blocks (RFC 5737, 2544, 3849)
# are assigned to no network, so no internal service lives there; test networks and fake-IP
# resolvers put their stand-ins for public registries there.
_NOWHERE = tuple(
    ip_network(n)
    for n in ("192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def _table(version: int) -> list[Any]:  # IPv4Network or IPv6Network, as ``version`` says
    """Every block Python's ``ipaddress`` classifies as not global (private, shared, loopback,
    link-local with the metadata endpoints, ULA, Teredo, reserved), multicast or site-local —
    but not IPv6's unassigned space, which holds NAT64's prefix, nor ``_NOWHERE``."""
    found = []
    for name, value in vars(getattr(ipaddress, f"_IPv{version}Constants")).items():
        if name not in ("_reserved_networks", "_private_networks_exceptions"):
            values = value if isinstance(value, list) else [value]
            found += [v for v in values if isinstance(v, (IPv4Network, IPv6Network))]
    return [n for n in found if n not in _NOWHERE]


def host_networks() -> list[Any]:  # IPv4Network or IPv6Network
    """The networks of the host's own interface addresses, read now: a listed name that
    resolves to the host (or a neighbour on its network) reaches none of its listeners,
    whatever block its address is in (a documentation block's too)."""
    found = []
    for address in itertools.chain(*psutil.net_if_addrs().values()):
        if address.family in (socket.AF_INET, socket.AF_INET6) and address.netmask:
            bits = bin(int(ipaddress.ip_address(address.netmask))).count("1")
            found.append(ip_network((address.address.split("%")[0], bits), strict=False))
    return found


def unreachable() -> list[str]:
    """Every destination that is not a global unicast address, and the host's own networks,
    as networks for squid's ``dst`` rule: the table above and ``host_networks``, and each
    IPv4 block of them as NAT64 and 6to4 embed it."""
    own = host_networks()
    v4 = [*_table(4), *(n for n in own if n.version == 4)]
    v6 = [*_table(6), *map(ip_network, _REFUSED_TOO), *(n for n in own if n.version == 6)]
    for outer in map(ip_network, _EMBEDDING):
        base = int(outer.network_address)
        bits = 96 - outer.prefixlen
        v6 += [
            IPv6Network((base | int(n.network_address) << bits, outer.prefixlen + n.prefixlen))
            for n in v4
        ]
    return [str(n) for nets in (v4, v6) for n in collapse_addresses(nets)]


def squid_config(allow: Sequence[str], port: int) -> str:
    rules = [{"domain": f".{h}" if wild else h, "port": p} for h, p, wild in map(parse_host, allow)]
    return Templates().render(
        "egress/squid.conf.j2", port=port, folder=SEEN_AT, rules=rules, unreachable=unreachable()
    )


# one line of the ``factory`` log format (``squid.conf.j2``)
_LINE = re.compile(
    r"^[0-9]+ (?P<client>\S{1,64}) (?P<method>[A-Z]{1,16}) (?P<host>\S{1,300}) "
    r"(?P<port>[0-9]{1,5}|-) (?P<status>[0-9]{1,3}) (?P<result>[A-Z_]{1,40}) "
    r"(?P<sent>[0-9]{1,15}) (?P<received>[0-9]{1,15}) (?P<address>\S{1,64})$"
)


def parse_log(lines: Iterable[str], client: str) -> tuple[list[Connection], int]:
    """squid's lines (read one at a time), ``client``'s only: the connections, at most
    MAX_RECORDED, and how many more there were; a line not in the format is skipped."""
    found: list[Connection] = []
    dropped = 0
    for line in lines:
        match = _LINE.match(line.rstrip("\n"))
        if match is None or match["client"] != client:
            continue
        if len(found) >= MAX_RECORDED:
            dropped += 1
            continue
        result = match["result"]
        address = match["address"]
        found.append(
            Connection(
                host=_NOT_HOST.sub("?", match["host"])[:253],
                port=int(match["port"]) if match["port"].isdigit() else 0,
                method=match["method"],
                allowed=not ("DENIED" in result or result.startswith("NONE")),
                status=int(match["status"]),
                sent=int(match["sent"]),
                received=int(match["received"]),
                address=None if address == "-" else _NOT_HOST.sub("?", address),
            )
        )
    return found, dropped


def read_record(log: Path, allow: tuple[str, ...], client: str, offset: int) -> NetworkRecord:
    """The connections from ``client`` that squid logged in ``log`` after ``offset``, read a
    line at a time (a long log is never held whole)."""
    if not log.exists():
        return NetworkRecord(allow=allow)
    with log.open("rb") as lines:
        lines.seek(offset)
        connections, dropped = parse_log((line.decode(errors="replace") for line in lines), client)
    return NetworkRecord(allow=allow, connections=tuple(connections), dropped=dropped)


def _end(proc: subprocess.Popen[bytes], cgroup: Cgroup) -> None:
    Sandbox._kill(proc)
    cgroup.remove()


def _listening(name: str) -> bool:
    """Whether a Unix socket named ``name`` listens (in this network namespace)."""
    rows = Path("/proc/net/unix").read_text().splitlines()[1:]
    return any(r.endswith("/" + name) and r.split()[3] == "00010000" for r in rows)


def _hex(address: str) -> str:
    """An IPv4 address as ``/proc/net/tcp`` writes it."""
    return f"{int.from_bytes(socket.inet_aton(address), 'little'):08X}"


class _Squid:
    """One squid for one allow-list, in a folder of its own under ``parent`` (which names the
    process that owns it: a folder whose owner is gone is removed by the next squid), and
    the set-ups' relays beside it, each connecting from an address of its own."""

    def __init__(self, parent: Path, allow: tuple[str, ...], programs: dict[str, str]) -> None:
        self.allow = allow
        self.programs = programs
        self.folder = own_folder(parent, "proxy-")
        self.log = self.folder / "access.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup = Cgroup(Limits())
        self._addresses = itertools.count(1)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _sandbox(self) -> Sandbox:
        return Sandbox(self.folder, Limits(), network=True, seen_as=SEEN_AT)

    def _start(self) -> None:
        """squid on a free port of the host's loopback (another if that one was taken), ready."""
        problem = "it did not start"
        shutil.copyfile(HOSTS, self.folder / "hosts")
        for _ in range(3):
            self.port = free_port()
            (self.folder / "squid.conf").write_text(squid_config(self.allow, self.port))
            for name in ("cache.log", "access.log", "proxy.log"):
                (self.folder / name).unlink(missing_ok=True)
            script = _SQUID.format(folder=SEEN_AT, **self.programs)
            self.proc = self._sandbox().popen(script, self.cgroup, stdout=subprocess.DEVNULL)
            problem = self._wait_ready()
            if not problem:
                return
            self._kill()
            if "bind" not in problem.lower() and "in use" not in problem.lower():
                break
        raise SandboxError(f"the egress proxy (squid) could not start: {problem}")

    def _wait_ready(self) -> str:
        """ "" once squid listens, else squid's last words."""
        assert self.proc is not None
        logs = [self.folder / "cache.log", self.folder / "proxy.log"]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())
            if READY in text:
                return ""
            fatal = [line for line in text.splitlines() if "FATAL" in line]
            if fatal or self.proc.poll() is not None:
                return (fatal or text.strip().splitlines() or ["it exited"])[-1][-300:]
            time.sleep(0.02)
        return f"not ready after {START_TIMEOUT_S:.0f}s"

    def relay(self) -> tuple[Path, str, subprocess.Popen[bytes], Cgroup]:
        """A new set-up's relay, listening: its socket, its address, its cgroup (no set-up
        can take the processes another's relay needs)."""
        n = next(self._addresses)
        at = f"127.{1 + n // 65536 % 254}.{n // 256 % 256}.{n % 256}"
        name = f"{n}-{secrets.token_hex(4)}"  # short: a socket's path may hold 107 bytes
        script = _RELAY.format(folder=SEEN_AT, name=name, port=self.port, at=at, **self.programs)
        cgroup = Cgroup(Limits())
        proc = self._sandbox().popen(script, cgroup, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(name):
            if proc.poll() is not None or time.monotonic() > deadline:
                _end(proc, cgroup)
                raise SandboxError(f"the egress proxy's relay did not start (exit {proc.poll()})")
            time.sleep(0.005)
        return self.folder / name, at, proc, cgroup

    def settle(self, at: str) -> None:
        """Wait (at most SETTLE_TIMEOUT_S) until squid holds no connection from ``at`` open:
        it logs each one before it closes it."""
        ours = f"{_hex('127.0.0.1')}:{self.port:04X}"
        theirs = _hex(at) + ":"
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
            if not any(r[1] == ours and r[2].startswith(theirs) and r[3] in _OPEN for r in rows):
                return
            time.sleep(0.01)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            Sandbox._kill(proc)

    def stop(self) -> None:
        self._kill()
        self.cgroup.remove()
        shutil.rmtree(self.folder, ignore_errors=True)


class EgressProxy:
    """``with EgressProxy(state_dir, allow) as proxy:`` run the set-up with
    ``egress=proxy.socket``; afterwards ``proxy.record`` holds its connections."""

    def __init__(self, state_dir: Path, allow: Sequence[str]) -> None:
        found = {name: shutil.which(name, path=_SBIN) for name in ("squid", "socat")}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise SandboxError(f"{missing[0]} is not installed: apt-get install {missing[0]}")
        self.programs = {name: str(path) for name, path in found.items()}
        self.allow = tuple(allow)
        self.parent = state_dir / "egress"
        self.record = NetworkRecord(allow=self.allow)
        self._squid: _Squid | None = None
        self._relay: tuple[Path, str, subprocess.Popen[bytes], Cgroup] | None = None
        self._owned = True

    @property
    def socket(self) -> Path:
        assert self._relay is not None, "the proxy is not running"
        return self._relay[0]

    def __enter__(self) -> EgressProxy:
        squid, self._owned = service(  # a cycle's squid for this list, else its own
            (self.parent, self.allow), lambda: _Squid(self.parent, self.allow, self.programs)
        )
        self._squid = squid
        offset = squid.log.stat().st_size if squid.log.exists() else 0
        try:
            self._relay = squid.relay()
        except BaseException:
            self._done()
            raise
        self._offset = offset
        return self

    def __exit__(self, *_: object) -> None:
        assert self._squid is not None and self._relay is not None
        try:
            path, at, proc, cgroup = self._relay
            _end(proc, cgroup)
            path.unlink(missing_ok=True)
            self._squid.settle(at)
            self.record = read_record(self._squid.log, self.allow, at, self._offset)
        finally:
            self._done()

    def _done(self) -> None:
        if self._owned and self._squid is not None:
            self._squid.stop()
