"""The sealed validator's browser, as Playwright in the seal sees it: Playwright starts this
as Chromium; it sends its arguments, the two pipes Playwright gave it (fds 3 and 4) and its
output to the harness's ``BrowserBroker`` over the Unix socket whose path the file named
first holds (the socket's name is on no command line another user could read), with the
uid its listener must run as (the harness's), which starts a confined Chromium on them, and
it ends when that Chromium ends, with its exit status.

Run as ``python -I -m harness.browser.relay FILE ARG…`` (see ``relay_script``)."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
from pathlib import Path


def relay_script(folder: Path, socket_path: str, uid: int) -> Path:
    """An executable in ``folder`` that runs the relay to ``socket_path``, served by ``uid``:
    what Playwright in the seal is given as its browser."""
    script = folder / "chromium-relay"
    target = folder / "chromium-relay.socket"
    target.write_text(f"{socket_path}\n{uid}")
    command = [sys.executable, "-I", "-m", "harness.browser.relay", str(target)]
    script.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
    script.chmod(0o755)
    return script


def main(argv: list[str]) -> int:
    from harness.sandbox.peers import served_by

    path, uid = Path(argv[0]).read_text().split("\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        served_by(conn, int(uid), "browser socket")  # before Chromium's pipes go anywhere
        socket.send_fds(conn, [json.dumps(argv[1:]).encode() + b"\n"], [3, 4, 2])
        for fd in (3, 4):  # Chromium holds them now: Playwright sees it close them
            os.close(fd)
        answer = b""
        while chunk := conn.recv(64):
            answer += chunk
    status = answer.strip()
    return int(status) if status.lstrip(b"-").isdigit() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
