"""How a set-up command, in a network namespace with only its own loopback, reaches the egress
proxy (``egress.py``) and nothing else: the proxy's Unix socket is bound into the sandbox at
``EGRESS_SOCKET``, a ``socat`` relay on the sandbox's loopback forwards ``EGRESS_PORT`` to it,
and the usual proxy variables point there. The relay runs as the command's own uid: it holds
nothing the command does not, since the proxy decides what is reachable."""

from __future__ import annotations

from types import MappingProxyType

EGRESS_SOCKET = "/run/factory-egress.sock"
EGRESS_PORT = 3128
_LISTENING = f"0100007F:{EGRESS_PORT:04X} 00000000:0000 0A"  # its line in /proc/net/tcp
# start the relay, wait until it listens (at most 2,000 looks), then run the command
_RELAY = (
    f"socat TCP-LISTEN:{EGRESS_PORT},bind=127.0.0.1,fork,reuseaddr "
    f"UNIX-CONNECT:{EGRESS_SOCKET} </dev/null >/dev/null 2>&1 &\n"
    f"n=0; while [ $n -lt 2000 ] && ! grep -q '{_LISTENING}' /proc/net/tcp; do\n"
    "  n=$((n+1)); sleep 0.01\ndone\n"
    'exec "$@"\n'
)
_PROXY = f"http://127.0.0.1:{EGRESS_PORT}"
EGRESS_ENV = MappingProxyType(
    {
        **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), _PROXY),
        **dict.fromkeys(("NO_PROXY", "no_proxy"), "localhost,127.0.0.1,::1"),
    }
)


def relayed(command: list[str]) -> list[str]:
    """``command`` preceded by the relay (inside the sandbox, as the command's uid)."""
    return ["/bin/sh", "-c", _RELAY, "relay", *command]
