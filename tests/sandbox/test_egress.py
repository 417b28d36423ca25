"""The egress proxy of ``commands.setup``: the registries the manifests need by default, pip
and npm through it from the real registries, nothing internal reachable even by an allowed name, every
connection recorded — as root and as an ordinary user."""

from __future__ import annotations

import json
import os
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness
from harness.config.network import default_allow
from harness.config.settings import load_settings
from harness.sandbox.bwrap import SANDBOX_UID, running_as_root, sandbox_available
from harness.sandbox.egress import (
    MAX_RECORDED,
    EgressProxy,
    NetworkRecord,
    parse_log,
    read_record,
)
from harness.sandbox.policy import prepare_worktree, setup_allow
from harness.sandbox.relay import EGRESS_PORT
from harness.sandbox.shared import shared
from tests.factory_repo import git, make_factory_repo

needs_bwrap = pytest.mark.skipif(
    not sandbox_available(), reason="bubblewrap (bwrap) is not installed"
)


def test_the_default_allow_list_follows_the_manifests() -> None:
    assert default_allow(["README.md"]) == []
    assert default_allow(["requirements-dev.txt"]) == ["pypi.org", "files.pythonhosted.org"]
    assert default_allow(["requirements-dev.txt", "package.json", "yarn.lock"]) == [
        "pypi.org",
        "files.pythonhosted.org",
        "registry.npmjs.org",
        "registry.yarnpkg.com",
    ]


@pytest.mark.sandbox
@needs_bwrap
def test_a_merged_manifest_does_not_widen_the_next_setup(tmp_path: Path) -> None:
    """With no network.allow, setup reaches the registries of the manifests of the governance
    commit (the newest production commit that changed a governance file, which only a
    maintainer can make): an empty package.json merged since opens nothing; a maintainer's
    next commit of a governance file takes the manifests it holds."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "requirements.txt").write_text("six\n")
    setup = {"commands": {"setup": "true", "test": "true"}}
    repo = make_factory_repo(tmp_path / "notes", config=setup)
    (repo / "package.json").write_text("{}")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Merge factory/issue-7: an empty manifest")
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"), head)
    settings = load_settings(repo, tmp_path / "state")
    prepared = prepare_worktree(settings, tmp_path / "wt", head, head)
    assert prepared.problem is None and prepared.network is not None, prepared.output
    assert prepared.network.allow == ("pypi.org", "files.pythonhosted.org")
    (repo / "mission.md").write_text((repo / "mission.md").read_text() + "\nNode too.\n")
    git(repo, "commit", "-qam", "the maintainer's mission, with a Node side")
    allow = setup_allow(load_settings(repo, tmp_path / "state"))
    assert allow == ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org"]


def test_the_log_becomes_typed_connections_and_is_capped() -> None:
    line = "1795470793 127.1.0.1 CONNECT pypi.org 443 200 TCP_TUNNEL 889 15007 203.0.113.80"
    refused = "1795470794 127.1.0.1 GET 169.254.169.254 80 403 TCP_DENIED 137 3427 -"
    other = "1795470794 127.1.0.2 GET example.org 80 200 TCP_MISS 137 3427 93.184.215.14"
    garbage = "not a line squid wrote\n\x1b[31m 1 2 3 4 5 6 7 8 9\n1 x GET a b 200 X 1 2 -"
    text = "\n".join([line, other, refused, garbage])
    found, dropped = parse_log(text.splitlines(), "127.1.0.1")
    assert dropped == 0 and [c.model_dump() for c in found] == [
        {
            "host": "pypi.org",
            "port": 443,
            "method": "CONNECT",
            "allowed": True,
            "status": 200,
            "sent": 889,
            "received": 15007,
            "address": "203.0.113.80",
        },
        {
            "host": "169.254.169.254",
            "port": 80,
            "method": "GET",
            "allowed": False,
            "status": 403,
            "sent": 137,
            "received": 3427,
            "address": None,
        },
    ]
    many, dropped = parse_log([line] * (MAX_RECORDED + 5), "127.1.0.1")
    assert len(many) == MAX_RECORDED and dropped == 5
    lines = NetworkRecord(allow=("pypi.org",), connections=(*found, found[0])).lines()
    assert lines == [
        "setup network (egress proxy): allowed pypi.org",
        "  allowed  pypi.org:443  2 connections, 1,778 bytes sent, 30,014 received (HTTP 200)",
        "  REFUSED  169.254.169.254:80  1 connection, 137 bytes sent, 3,427 received (HTTP 403)",
    ]


def test_a_long_log_is_read_a_line_at_a_time(tmp_path: Path) -> None:
    """90,000 requests of three set-ups: one set-up's record is read with far less memory than
    the log's size, and counts what it does not list."""
    line = "1795470793 127.1.0.{n} GET example.org 80 200 TCP_MISS 137 3427 93.184.215.14\n"
    log = tmp_path / "access.log"
    with log.open("w") as out:
        for _ in range(30_000):
            out.write(line.format(n=1) + line.format(n=2) + line.format(n=3))
    tracemalloc.start()
    record = read_record(log, ("example.org:80",), "127.1.0.2", 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(record.connections) == MAX_RECORDED and record.dropped == 30_000 - MAX_RECORDED
    assert peak < 2 << 20 < log.stat().st_size // 3, (peak, log.stat().st_size)


KILLED = """
import os, sys
from pathlib import Path
from harness.sandbox.egress import EgressProxy
from harness.sandbox.shared import shared
with shared(), EgressProxy(Path(sys.argv[1]), ["pypi.org"]) as proxy:
    print(proxy.socket.parent, flush=True)
    os.kill(os.getpid(), 9)
"""


@pytest.mark.sandbox
@needs_bwrap
def test_a_killed_processs_proxy_dies_with_it_and_its_folder_goes(tmp_path: Path) -> None:
    """A process killed while its cycle shares a proxy leaves no squid running (its sandbox
    dies with its parent) and a folder the next proxy removes; a live one's stays."""
    command = [sys.executable, "-c", KILLED, str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -9, done.stderr
    left = Path(done.stdout.strip())
    assert left.is_dir()
    with EgressProxy(tmp_path, []) as running:
        assert not left.exists()
        with EgressProxy(tmp_path, []) as second:
            assert running.socket.parent.exists() and second.socket.exists()
    assert list((tmp_path / "egress").iterdir()) == []
    squids = [p for p in Path("/proc").glob("[0-9]*") if str(left).encode() in _cmdline(p)]
    assert squids == []


@pytest.mark.sandbox
@needs_bwrap
def test_a_cycles_proxy_that_died_is_made_again_and_both_folders_go(tmp_path: Path) -> None:
    """A cycle's shared squid that died is replaced for the next set-up; when the cycle ends,
    the dead one's folder goes with the live one's."""
    with shared():
        with EgressProxy(tmp_path, []) as first:
            folder = first.socket.parent
        assert first._squid is not None and first._squid.proc is not None
        first._squid.proc.kill()
        first._squid.proc.wait()
        with EgressProxy(tmp_path, []) as second:
            assert second.socket.parent != folder and folder.exists()
    assert list((tmp_path / "egress").iterdir()) == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


@needs_bwrap
def test_a_tunnel_still_open_when_the_proxy_stops_is_in_its_record(tmp_path: Path) -> None:
    """A tunnel still open when the set-up ends is in its record: its relay is stopped and
    squid logs the tunnel as it closes it."""
    with socket.socket(socket.AF_UNIX) as held, EgressProxy(tmp_path, ["pypi.org"]) as proxy:
        held.connect(str(proxy.socket))
        held.sendall(b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n")
        assert held.recv(100).startswith(b"HTTP/1.1 200")
        held.sendall(b"\x16\x03\x01")  # what a TLS client starts with, through the tunnel
    [tunnel] = proxy.record.connections
    assert (tunnel.host, tunnel.port, tunnel.method, tunnel.allowed) == (
        "pypi.org",
        443,
        "CONNECT",
        True,
    )
    assert tunnel.sent > 0


# built by flit_core, a backend of one small wheel (setuptools' install costs seconds)
PYPROJECT = """[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[project]
name = "notes"
version = "0.1.0"
description = "Notes."
dependencies = ["six"]
"""


@pytest.mark.slow
@pytest.mark.sandbox
@needs_bwrap
@pytest.mark.timeout(900)
def test_pip_installs_from_the_real_pypi_through_the_proxy(tmp_path: Path) -> None:
    """The recipe ``factory init`` writes for Python, against the real PyPI: no network.allow,
    so the registries of pyproject.toml; nothing else was asked for or reached."""
    setup = "python3 -m venv .venv && .venv/bin/pip install -q -e ."
    (tmp_path / "notes").mkdir()  # the project, committed with its governance
    (tmp_path / "notes" / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "notes" / "notes.py").write_text("import six\n")
    repo = make_factory_repo(
        tmp_path / "notes", config={"commands": {"setup": setup, "test": "true"}}
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    settings = load_settings(repo, tmp_path / "state")
    prepared = prepare_worktree(settings, repo, head, head)
    assert prepared.problem is None and prepared.online is not None, prepared.output
    assert list((repo / ".venv" / "lib").glob("python3*/site-packages/six.py"))
    record = prepared.network
    assert record is not None and record.allow == ("pypi.org", "files.pythonhosted.org")
    reached = {(c.host, c.port) for c in record.connections if c.allowed and c.received > 0}
    assert reached == {("pypi.org", 443), ("files.pythonhosted.org", 443)}, record
    assert all(c.allowed for c in record.connections), record
    assert list((tmp_path / "state" / "egress").iterdir()) == []  # the proxy is gone


@pytest.mark.sandbox
@needs_bwrap
@pytest.mark.timeout(900)
def test_npm_installs_from_the_real_registry_through_the_proxy(tmp_path: Path) -> None:
    """``npm install`` with no network.allow: package.json's registry, and nothing else."""
    (tmp_path / "web").mkdir()  # the project, committed with its governance
    manifest = '{"name": "web", "dependencies": {"left-pad": "1.3.0"}}'
    (tmp_path / "web" / "package.json").write_text(manifest)
    repo = make_factory_repo(
        tmp_path / "web", config={"commands": {"setup": "npm install --no-audit", "test": "true"}}
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    prepared = prepare_worktree(load_settings(repo, tmp_path / "state"), repo, head, head)
    assert prepared.problem is None, prepared.output
    assert (repo / "node_modules" / "left-pad" / "package.json").is_file()
    record = prepared.network
    assert record is not None and record.allow == ("registry.npmjs.org",)
    assert {(c.host, c.port, c.allowed) for c in record.connections} == {
        ("registry.npmjs.org", 443, True)
    }, record


HOSTILE = """
import json, socket, sys, urllib.request
port = int(sys.argv[1])
out = {}
try:
    socket.create_connection(("127.0.0.1", port), 2).sendall(b"direct")
    out["direct"] = "reached"
except OSError as exc:
    out["direct"] = str(exc)
s = socket.create_connection(("127.0.0.1", EGRESS_PORT), 5)
s.sendall(f"CONNECT localhost:{port} HTTP/1.1\\r\\nHost: localhost:{port}\\r\\n\\r\\n".encode())
out["proxied"] = s.recv(100).split(b"\\r\\n")[0].decode()
out["pypi"] = urllib.request.urlopen("https://pypi.org/simple/six/", timeout=60).status
print(json.dumps(out))
""".replace("EGRESS_PORT", str(EGRESS_PORT))

AS_USER = """
import json, sys
from pathlib import Path
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.egress import EgressProxy
from harness.sandbox.limits import Limits
top, port, script = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with EgressProxy(top / "state", ["pypi.org", f"localhost:{port}"]) as proxy:
    sandbox = Sandbox(top / "wt", Limits(timeout_s=300), egress=proxy.socket)
    result = sandbox.run(f"python3 -c '{script}' {port}")
print(json.dumps({"output": result.output, "record": proxy.record.model_dump()}))
"""


@pytest.fixture
def user_dir() -> Iterator[Path]:
    """A folder an ordinary user (the sandbox uid when the tests run as root) owns."""
    top = Path(tempfile.mkdtemp(prefix="egress-user-"))
    for name in ("wt", "state"):
        (top / name).mkdir()
    if running_as_root():
        for path in (top, top / "wt", top / "state"):
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.sandbox
@needs_bwrap
@pytest.mark.timeout(600)
def test_as_an_ordinary_user_the_same_proxy_holds(user_dir: Path, listener) -> None:
    """The harness run by an ordinary user (bubblewrap makes a user namespace): the set-up
    reaches PyPI, and neither directly nor through the proxy — by a listed name that resolves
    to loopback — the listener on the host's loopback."""
    port, got = listener
    command = [sys.executable, "-c", AS_USER, str(user_dir), str(port), HOSTILE]
    if running_as_root():  # the system's interpreter (this one may live in root's home)
        path = [str(Path(harness.__file__).parents[1]), *site.getsitepackages()]
        setpriv = [f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
        env = ["env", "-i", "HOME=/tmp", "PATH=/usr/bin:/bin", f"PYTHONPATH={':'.join(path)}"]
        command = ["setpriv", *setpriv, *env, "/usr/bin/python3", *command[1:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=500, cwd=user_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    inside = json.loads(answer["output"].strip().splitlines()[-1])
    assert inside["direct"] != "reached" and inside["pypi"] == 200, inside
    assert inside["proxied"].endswith("403 Forbidden"), inside
    assert got == []
    seen = {(c["host"], c["port"], c["allowed"]) for c in answer["record"]["connections"]}
    assert seen == {("localhost", port, False), ("pypi.org", 443, True)}, answer["record"]
