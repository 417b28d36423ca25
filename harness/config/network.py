"""The entries of ``network.allow`` in ``factory.yaml``: the hosts ``commands.setup`` may
reach through the egress proxy (``harness/sandbox/egress.py``). Every other command has no
network at all. Unset, the list is the package registries of the manifests a maintainer
committed (``default_allow``, read at the governance commit: ``harness/sandbox/policy.py``);
a change that would widen it waits for a person (``widening``: the ``network_allow`` gate)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, NamedTuple

from pydantic import AfterValidator

from harness.globs import matching
from harness.paths import shipped_yaml

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ENTRY = re.compile(
    rf"^(?P<wild>\*\.)?(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?$"
)
DEFAULT_PORT = 443


def parse_host(entry: str) -> tuple[str, int, bool]:
    """(host, port, wildcard) of a valid entry: ``pypi.org``, ``*.example.com``,
    ``repo.example.com:8443``. Raises ValueError with the reason otherwise."""
    found = _ENTRY.match(entry.lower())
    if found is None or len(found["host"]) > 253:
        raise ValueError(
            f"{entry!r} is not a host name, *.domain or host:port (letters, digits, '-', '.')"
        )
    host, port = found["host"], int(found["port"] or DEFAULT_PORT)
    if host.rsplit(".", 1)[-1].isdigit():
        raise ValueError(f"{entry!r} is an address: name a host (addresses are never allowed)")
    if found["wild"] and "." not in host:
        raise ValueError(f"{entry!r} is too broad: name a domain, e.g. *.example.com")
    if not 1 <= port <= 65535:
        raise ValueError(f"{entry!r}: the port must be 1-65535")
    return host, port, bool(found["wild"])


def _valid(entry: str) -> str:
    parse_host(entry)
    return entry.lower()


AllowedHost = Annotated[str, AfterValidator(_valid)]


class _Registry(NamedTuple):
    """A package registry (``workflows/egress/registries.yaml``): its hosts, called for by
    the manifests ``when`` names (globs of file names)."""

    when: list[str]
    hosts: list[str]


class _Index(NamedTuple):
    """A ``line`` (a pattern) that names another index or registry in the files ``files``
    names (``workflows/egress/indexes.yaml``)."""

    files: list[str]
    line: str


def default_allow(names: Iterable[str]) -> list[str]:
    """The package registries of the manifests ``names`` (file names, as
    ``workflows/egress/registries.yaml`` reads them)."""
    names = list(names)
    hosts: list[str] = []
    for registry in (_Registry(**r) for r in shipped_yaml("egress", "registries.yaml")):
        if any(matching(name, registry.when) for name in names):
            hosts += [h for h in registry.hosts if h not in hosts]
    return hosts


def covers(allow: Sequence[str], host: str) -> bool:
    """Whether the entries ``allow`` let setup reach ``host`` on port 443."""
    held = [parse_host(entry) for entry in allow if entry.endswith(":443") or ":" not in entry]
    return any(n == host or (w and host.endswith(f".{n}")) for n, _, w in held)


def widening(new: Iterable[str], added: Mapping[str, list[str]], allow: Sequence[str]) -> list[str]:
    """What of a change would widen setup's network, a line each: a manifest it adds (among
    ``new`` files) for a registry ``allow`` does not hold, and each line it adds (``added``:
    path -> lines) that names another index or registry, or a package by its URL
    (``workflows/egress/indexes.yaml``)."""
    found = [
        f"{path} calls for {host}, which the allow-list does not hold"
        for path in new
        for host in default_allow([path.rsplit("/", 1)[-1]])
        if not covers(allow, host)
    ]
    for rule in (_Index(**r) for r in shipped_yaml("egress", "indexes.yaml")):
        line = re.compile(rule.line, re.IGNORECASE)
        for path, lines in added.items():
            if matching(path, rule.files):
                found += [f"{path} adds `{t.strip()[:80]}`" for t in lines if line.search(t)]
    return list(dict.fromkeys(found))
