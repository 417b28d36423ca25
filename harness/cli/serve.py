"""``factory serve``: the dashboard, on 127.0.0.1 unless told otherwise, behind a token."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys

import click

from harness.cli.common import target_of
from harness.errors import UsageError


def _host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An address to listen on, given in full: an empty one would mean every interface to the
    socket layer, so it is refused rather than read as either."""
    if not value.strip() or value != value.strip():
        raise click.BadParameter(
            f"{value!r}: give an address (127.0.0.1 for this machine only, 0.0.0.0 for every "
            "interface)"
        )
    return value


def _loopback(address: str) -> bool:
    """Whether the address the socket is bound to (not the name it was given) is loopback."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
        ) from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, callback=_host, help="Address to listen on."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """The dashboard: runs, queue, issues, costs, trends, approvals and the kill switch.

    The first line printed is the URL to open; it carries the session token."""
    import uvicorn

    from harness.decisions import check_actor, default_actor
    from harness.serve.app import Dashboard, create_app

    target = target_of(ctx)
    services = target.services()
    actor = check_actor(default_actor())
    token = secrets.token_urlsafe(32)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"http://{shown}:{bound}/?token={token}")
    sys.stdout.flush()
    if not _loopback(str(sock.getsockname()[0])):
        click.echo(
            f"factory: warning: --host {host} makes the dashboard reachable from other "
            "machines; anyone with the URL can stop the factory and approve changes",
            err=True,
        )
    board = Dashboard(services, token, actor, target.services)
    app = create_app(board)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # the first request's URL carries the token
        timeout_graceful_shutdown=2,
        lifespan="off",
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            board.closing = True  # live streams end at their next tick, so shutdown is clean
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    server = Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        board.closing = True
        sock.close()
        services.store.close()
