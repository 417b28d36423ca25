"""The app is ready when its ready path answers 200, or redirects to the app itself (a
Django ``/`` that sends the browser to ``/catalog/``); a redirect elsewhere is not ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sandbox.app import AppNotReady, AppProcess, free_port
from harness.sandbox.bwrap import Sandbox, running_as_root, sandbox_available

pytestmark = pytest.mark.skipif(
    not (sandbox_available() and running_as_root()), reason="needs bwrap, as root"
)

APP = """import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(sys.argv[1])
GO = {"/": "/catalog/", "/abs": "http://localhost:%d/x" % PORT, "/away": "http://example.com/",
      "/proto": "//example.com/", "/slash": "/\\\\example.com/"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302 if self.path in GO else 200)
        if self.path in GO:
            self.send_header("Location", GO[self.path])
        self.end_headers()


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
"""


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
