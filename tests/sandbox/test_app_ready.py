"""The app is ready when its ready path answers 200, or redirects to the app itself (a
Django ``/`` that sends the browser to ``/catalog/``); a redirect elsewhere is not ready; an app
that answers a byte a second is not ready once its limit has passed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.sandbox.app import AppNotReady, AppProcess, free_port
from harness.sandbox.bwrap import Sandbox, running_as_root, sandbox_available

pytestmark = pytest.mark.skipif(
    not (sandbox_available() and running_as_root()), reason="needs bwrap, as root"
)

APP = """import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
GO = {"/": "/catalog/", "/abs": "http://localhost:%d/x" % PORT, "/away": "http://example.com/",
      "/proto": "//example.com/", "/slash": "/\\\\example.com/"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/drip":  # an answer that never ends: a byte a second
            while True:
                self.wfile.write(b"H")
                time.sleep(1)
        self.send_response(302 if self.path in GO else 200)
        if self.path in GO:
            self.send_header("Location", GO[self.path])
        self.end_headers()


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
"""


OUTLASTED_S = 120  # far past the limit and the guard's 10 s; a hang fails here, nothing waits


def test_a_redirect_to_the_app_itself_is_ready_and_one_elsewhere_is_not(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    with AppProcess(Sandbox(tmp_path), f"python3 app.py {port}", port, "/") as app:
        app.wait_ready(20)  # / redirects to /catalog/
        app.ready_path = "/abs"  # to http://localhost:<its port>/x
        app.wait_ready(5)
        for elsewhere in ("/away", "/proto", "/slash"):
            app.ready_path = elsewhere
            with pytest.raises(AppNotReady, match="did not answer 200"):
                app.wait_ready(0.3)


def test_an_app_answering_a_byte_a_second_is_not_ready_once_its_limit_has_passed(
    tmp_path: Path,
) -> None:
    """Every read of the prober waits 2 s at most, so a byte a second keeps it reading (a
    status line of 200 bytes: 200 s; headers: no end). The wait still ends a few seconds after
    ``commands.ready_timeout_s``, as the environment's failure (fault caught by hand: the
    guard that ends the prober taken away, the wait outlasts ``OUTLASTED_S``)."""
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    ended: list[AppNotReady] = []
    with AppProcess(Sandbox(tmp_path), f"python3 app.py {port}", port, "/") as app:
        app.wait_ready(20)  # up: the prober of /drip is answered at once, a byte a second
        app.ready_path = "/drip"

        def wait() -> None:
            try:
                app.wait_ready(0.3)
            except AppNotReady as exc:
                ended.append(exc)

        waiting = threading.Thread(target=wait, daemon=True)
        waiting.start()
        waiting.join(OUTLASTED_S)
        assert not waiting.is_alive(), "the wait for a dripping app outlasted its limit"
    assert len(ended) == 1 and ended[0].environment
    assert "did not answer 200 within 0s" in str(ended[0])
