"""The seccomp filter every sandboxed command runs under (docs/sandbox.md, the "privileges"
row): its data is ``syscalls.yaml`` beside this module; compiled by libseccomp once per
process and handed to bubblewrap on a file descriptor. Without libseccomp the sandbox still
holds, and ``factory doctor`` says whether the filter is active."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

SYSCALLS = Path(__file__).with_name("syscalls.yaml")
_BITS = 32  # personality(2) reads an unsigned int


@functools.lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The filter's data (``syscalls.yaml``)."""
    data: dict[str, Any] = yaml.load(SYSCALLS.read_text(encoding="utf-8"), yaml.CSafeLoader)
    return data


def _personality_rules(allowed: int, query: int) -> list[tuple[int, int]]:
    """(mask, value) pairs: personality(x) is refused when ``x & mask == value`` for one of
    them — exactly when x is neither ``query`` nor made of ``allowed`` flags only. libseccomp
    compares an argument once per rule, so the set is written as a union of two-bit tests:
    some bit outside ``allowed`` set with a neighbouring one clear (x is not all ones), or
    one outside bit set with an allowed bit clear."""
    outside = [1 << b for b in range(_BITS) if not allowed & (1 << b)]
    inside = [1 << b for b in range(_BITS) if allowed & (1 << b)]
    if query != (1 << _BITS) - 1 or not outside:
        raise ValueError("syscalls.yaml: personality_query must be 0xffffffff")
    pairs = [(a | b, a) for a, b in zip(outside, outside[1:] + outside[:1], strict=True)]
    return pairs + [(outside[0] | m, outside[0]) for m in inside]


@functools.lru_cache(maxsize=1)
def program() -> bytes | None:
    """The compiled filter, or ``None`` when libseccomp cannot be loaded on this machine."""
    try:
        import pyseccomp as sc  # type: ignore[import-untyped]
    except (ImportError, OSError):
        return None
    data = rules()
    refuse = sc.ERRNO(errno.EPERM)
    chosen = sc.SyscallFilter(sc.ALLOW)

    def add(action: Any, name: str, *args: Any) -> None:
        # a call this kernel or architecture does not have is skipped
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            chosen.add_rule(action, name, *args)

    for name in data["denied"]:
        add(refuse, name)
    for name in data["enosys"]:
        add(sc.ERRNO(errno.ENOSYS), name)
    for flag in data["clone_refused_flags"].values():
        add(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for family in data["socket_refused_families"].values():
        add(refuse, "socket", sc.Arg(0, sc.EQ, family))
    allowed = functools.reduce(int.__or__, data["personality_allowed_flags"].values(), 0)
    query = int(data["personality_query"])
    add(refuse, "personality", sc.Arg(0, sc.GT, query))
    for mask, value in _personality_rules(allowed, query):
        add(refuse, "personality", sc.Arg(0, sc.MASKED_EQ, mask, value))
    with tempfile.TemporaryFile() as handle:
        chosen.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def active() -> bool:
    return program() is not None


def filter_fd() -> int | None:
    """A fresh read-only descriptor holding the filter, for ``bwrap --seccomp FD`` (the caller
    passes it to the child and closes it), or ``None`` without libseccomp."""
    data = program()
    if data is None:
        return None
    fd = os.memfd_create("factory-seccomp", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
