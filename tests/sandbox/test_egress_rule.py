"""The egress proxy's deny rule, derived, not listed: a name on the allow-list that leads to
any address that is not global unicast is refused, whatever embeds it; set-ups sharing one
proxy (a cycle's) each keep their own record."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.sandbox import egress
from harness.sandbox.bwrap import sandbox_available
from harness.sandbox.egress import EgressProxy
from harness.sandbox.shared import shared

needs_bwrap = pytest.mark.skipif(
    not sandbox_available(), reason="bubblewrap (bwrap) is not installed"
)


# a listed name for each address that is not global unicast, and one that is (the control)
TRAPS = [
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "2002:7f00:1::1",
    "2002:c0a8:101::1",
    "2001::1",
    "fd00::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "0.0.0.0",
    "10.1.2.3",
    "100.64.0.1",
    "127.0.0.2",
    "169.254.169.254",
    "172.16.0.1",
    "192.168.1.1",
    "192.0.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "8.8.8.8 ::1",  # one of its addresses is enough
]


@pytest.fixture(scope="module")
def trapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], int]]:
    """(state folder, allow-list, the listener's port): one squid all the cases share (a
    cycle's), whose listed names ``trapN.test`` resolve to ``TRAPS[N]``; a listener on the
    host's loopback (IPv4 and IPv6) at that port, which must never be reached."""
    root = tmp_path_factory.mktemp("trapped")
    listeners = [socket.socket(socket.AF_INET), socket.socket(socket.AF_INET6)]
    listeners[0].bind(("127.0.0.1", 0))
    port = listeners[0].getsockname()[1]
    listeners[1].bind(("::1", port))
    for listening in listeners:
        listening.listen()
        listening.setblocking(False)
    hosts = root / "hosts"
    lines = [f"{a} trap{n}.test\n" for n, found in enumerate(TRAPS) for a in found.split()]
    hosts.write_text("".join(lines))
    allow = [f"trap{n}.test:{port}" for n in range(len(TRAPS))]
    with pytest.MonkeyPatch.context() as mp, shared():
        mp.setattr(egress, "HOSTS", hosts)
        yield root / "state", allow, port
    for listening in listeners:
        with pytest.raises(BlockingIOError):
            listening.accept()  # nothing ever connected
        listening.close()


def _ask(proxy: EgressProxy, request: str) -> str:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(60)
        conn.connect(str(proxy.socket))
        conn.sendall(request.encode())
        return conn.recv(200).split(b"\r\n")[0].decode()


@pytest.mark.sandbox
@needs_bwrap
@pytest.mark.parametrize("n", range(len(TRAPS)), ids=TRAPS)
def test_a_listed_name_that_leads_to_no_global_address_is_refused(trapped, n: int) -> None:
    """The rule, not a list: every address that is not global unicast is refused through the
    proxy, by CONNECT and by plain HTTP, and each set-up's record holds its two attempts."""
    state, allow, port = trapped
    host = f"trap{n}.test:{port}"
    with EgressProxy(state, allow) as proxy:
        tunnel = _ask(proxy, f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n")
        plain = _ask(proxy, f"GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n")
    assert (tunnel, plain) == ("HTTP/1.1 403 Forbidden",) * 2
    seen = [(c.method, c.host, c.allowed, c.status) for c in proxy.record.connections]
    assert seen == [("CONNECT", f"trap{n}.test", False, 403), ("GET", f"trap{n}.test", False, 403)]


@pytest.mark.sandbox
@needs_bwrap
def test_set_ups_sharing_one_proxy_each_get_their_own_record(trapped) -> None:
    """Two set-ups at once on the cycle's one squid: each record lists its own requests."""
    state, allow, port = trapped
    folders = set((state / "egress").iterdir())
    with EgressProxy(state, allow) as first, EgressProxy(state, allow) as second:
        for proxy, n in ((first, 0), (second, 1), (first, 2)):
            _ask(proxy, f"GET http://trap{n}.test:{port}/ HTTP/1.1\r\nHost: trap{n}.test\r\n\r\n")
    assert [c.host for c in first.record.connections] == ["trap0.test", "trap2.test"]
    assert [c.host for c in second.record.connections] == ["trap1.test"]
    assert set((state / "egress").iterdir()) == folders and len(folders) == 1  # one squid


def _own_address() -> str | None:
    """One of the host's own IPv4 addresses other than loopback (None: it has none)."""
    for address in itertools.chain(*psutil.net_if_addrs().values()):
        if address.family == socket.AF_INET and not address.address.startswith("127."):
            return str(address.address)
    return None


@pytest.mark.sandbox
@needs_bwrap
def test_a_listed_name_that_leads_to_the_host_itself_is_refused(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's own address, whatever block it is in (here 192.0.2.2, in a documentation
    block the rule leaves out), is read as the proxy starts: a listener on every interface
    (a dashboard on 0.0.0.0, another tenant's app) receives nothing."""
    own = _own_address()
    if own is None:
        pytest.skip("this host has no address but loopback")
    listening = socket.socket()
    listening.bind(("0.0.0.0", 0))
    listening.listen()
    listening.setblocking(False)
    port = listening.getsockname()[1]
    root = tmp_path_factory.mktemp("own")  # a short path: the proxy's socket lives under it
    hosts = root / "hosts"
    hosts.write_text(f"{own} self.test\n")
    monkeypatch.setattr(egress, "HOSTS", hosts)
    host = f"self.test:{port}"
    with EgressProxy(root / "state", [host]) as proxy:
        tunnel = _ask(proxy, f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n")
        plain = _ask(proxy, f"GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n")
    assert (tunnel, plain) == ("HTTP/1.1 403 Forbidden",) * 2
    with pytest.raises(BlockingIOError):
        listening.accept()  # nothing ever connected
    listening.close()
