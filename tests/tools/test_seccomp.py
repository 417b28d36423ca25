"""The sandbox's seccomp filter against Docker's default profile: every system call Docker
refuses outright is refused here too, or listed with the reason it is allowed; and the
compiled filter really refuses them inside the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.sandbox import seccomp
from harness.sandbox.bwrap import Sandbox, sandbox_available
from harness.sandbox.limits import Limits

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
]


def _known_syscalls() -> set[str]:
    """Every system call name libseccomp knows for this machine's architecture."""
    sc = pytest.importorskip("pyseccomp")
    names: set[str] = set()
    for number in range(1024):
        try:
            name = sc.resolve_syscall(sc.Arch.NATIVE, number)
        except (OSError, ValueError, RuntimeError):
            continue
        if name:
            names.add(name.decode() if isinstance(name, bytes) else str(name))
    return names


def test_every_call_docker_refuses_is_refused_here_or_its_allowance_explained() -> None:
    data = seccomp.rules()
    docker = data["docker"]
    assert (
        "moby/profiles/seccomp v0.2.3" in docker["version"] and "default.json" in docker["source"]
    )
    known = _known_syscalls()
    assert {"read", "openat", "io_uring_setup", "clone"} <= known
    docker_refuses = known - set(docker["allowed"]) - set(docker["by_argument"])
    assert {"io_uring_setup", "userfaultfd", "add_key", "request_key", "mount"} <= docker_refuses
    refused_here = set(data["denied"]) | set(data["enosys"])
    explained = data["allowed_here"]
    assert all(isinstance(why, str) and len(why) > 20 for why in explained.values())
    missing = sorted(docker_refuses - refused_here - set(explained))
    assert missing == [], (
        f"Docker refuses these and the filter neither refuses nor explains: {missing}"
    )
    # the calls Docker allows only with some arguments are narrowed here as well
    assert {"clone", "personality", "socket"} == set(docker["by_argument"])
    assert data["clone_refused_flags"] and data["socket_refused_families"]
    assert set(data["personality_allowed_flags"].values()) == {0x8, 0x20000}


PROBE = r"""
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def call(number, *args):
    ctypes.set_errno(0)
    result = libc.syscall(number, *args)
    return errno.errorcode.get(ctypes.get_errno(), "OK") if result == -1 else "OK"
print("io_uring_setup", call(425, 1, None))
print("userfaultfd", call(323, 0))
print("add_key", call(248, b"user", b"k", b"v", 1, -2))
print("request_key", call(249, b"user", b"k", None, 0))
print("sethostname", call(170, b"x", 1))
print("socket_alg", call(41, 38, 5, 0))
print("socket_unix", call(41, 1, 1, 0))
print("personality_query", call(135, ctypes.c_ulong(0xffffffff)))
print("personality_linux32", call(135, ctypes.c_ulong(0x0008)))
print("personality_no_aslr", call(135, ctypes.c_ulong(0x0040000)))
print("personality_exec", call(135, ctypes.c_ulong(0x0400000)))
"""


@pytest.mark.skipif(not seccomp.active(), reason="libseccomp is not available")
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe's numbers are x86-64's")
def test_the_compiled_filter_refuses_them_in_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    result = Sandbox(tmp_path, Limits(timeout_s=60)).run("python3 probe.py")
    assert result.exit_code == 0, result.output
    seen = dict(line.split(" ", 1) for line in result.output.splitlines() if " " in line)
    for name in ("io_uring_setup", "userfaultfd", "add_key", "request_key", "sethostname"):
        assert seen[name] == "EPERM", (name, result.output)
    assert seen["socket_alg"] == "EPERM" and seen["socket_unix"] == "OK"
    assert seen["personality_query"] == "OK" and seen["personality_linux32"] == "OK"
    assert seen["personality_no_aslr"] == "EPERM" and seen["personality_exec"] == "EPERM"
