"""The seccomp filter every sandboxed command runs under: the usual container deny list.

Refused with ``EPERM``: everything that mounts, unmounts or changes the root (``mount``,
``umount2``, ``pivot_root``, ``chroot``, the new mount API), enters or creates namespaces
(``unshare``, ``setns``, ``clone`` with a namespace flag; ``clone3`` answers ``ENOSYS`` so
libc falls back to ``clone``, whose flags the filter can read), traces or reads other
processes (``ptrace``, ``process_vm_*``, ``kcmp``), the kernel keyring, BPF, perf, kernel
modules, ``kexec``, ``reboot``, swap, accounting, quotas and file handles.

The filter is compiled by libseccomp (through ``pyseccomp``) once per process, as classic
BPF, and handed to bubblewrap on a file descriptor (``--seccomp FD``). Without libseccomp
the sandbox still holds (no capabilities, no root, no new user namespaces): the filter is
depth, and ``factory doctor`` says whether it is active.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

DENIED = (
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "name_to_handle_at",
    "open_by_handle_at",
    "lookup_dcookie",
    "iopl",
    "ioperm",
    "syslog",
)

# clone(2) flags that create namespaces
_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)


@functools.lru_cache(maxsize=1)
def program() -> bytes | None:
    """The compiled filter, or ``None`` when libseccomp cannot be loaded on this machine."""
    try:
        import pyseccomp as sc  # type: ignore[import-untyped]
    except (ImportError, OSError):
        return None
    rules = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        try:
            rules.add_rule(sc.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):  # a call this kernel or arch does not have
            continue
    for flag in _NAMESPACE_FLAGS:
        rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
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
