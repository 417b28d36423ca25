"""The entries of ``network.allow`` in ``factory.yaml``: the hosts ``commands.setup`` may
reach through the egress proxy (``harness/sandbox/egress.py``). Every other command has no
network at all."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

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
