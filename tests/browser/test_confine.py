"""The confined launcher's edges: what the broker refuses, and serving the app without root."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.browser import chromium, confine
from harness.browser.chromium import find_chromium
from harness.browser.confine import BrowserBroker, Launcher
from harness.browser.journeys import Journey
from harness.browser.runner import run_journey
from harness.errors import SandboxError
from harness.sandbox import app as app_module
from harness.sandbox.app import AppNotReady, AppProcess, free_port
from harness.sandbox.bwrap import Sandbox, sandbox_available
from harness.sandbox.limits import Cgroup, Limits
from harness.sandbox.peers import Peers
from tests.browser.serving import NEEDS_BROWSER, served

pytestmark = pytest.mark.skipif(not sandbox_available(), reason="needs bwrap")


def test_the_relay_hands_nothing_to_a_browser_socket_the_harness_does_not_serve(
    tmp_path: Path,
) -> None:
    """The seal's browser relay checks who listens before it sends Chromium's pipes: a
    listener of another uid than the one it was given (the harness's) gets nothing, and the
    relay fails, saying why."""
    import tempfile

    from harness.browser.relay import relay_script

    with tempfile.TemporaryDirectory() as short, socket.socket(socket.AF_UNIX) as listening:
        path = str(Path(short) / "browser.sock")  # a socket's path must be short
        listening.bind(path)
        listening.listen()
        harness = os.getuid() + 1  # whoever the relay is told serves it, not this process
        script = relay_script(tmp_path, path, harness)
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=60)
        conn, _ = listening.accept()
        assert conn.recv(100) == b""
    said = f"browser socket is served by uid {os.getuid()}, not by the harness (uid {harness})"
    assert done.returncode != 0 and said in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("message", "fds"),
    [(b"not json\n", 3), (b'{"not": "a list"}\n', 3), (b'["--headless"]\n', 1)],
)
def test_the_broker_starts_nothing_for_a_malformed_relay(
    tmp_path: Path, message: bytes, fds: int
) -> None:
    launcher = Launcher(tmp_path, find_chromium(), None, ())
    pipes = [os.pipe() for _ in range(2)]
    given = [pipes[0][0], pipes[1][1], pipes[1][1]][:fds]
    peers = Peers()
    peers.uid = os.getuid()
    peers.started(os.getpid())  # this test is the seal: its connection is the seal's
    with BrowserBroker(tmp_path / "browser.sock", launcher, peers) as broker:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(tmp_path / "browser.sock"))
            socket.send_fds(conn, [message], given)
            assert conn.recv(64) == b""  # hung up: no status, since nothing ran
        assert broker.browsing
    assert broker.proc is None  # leaving the broker waited for its one connection
    for read, write in pipes:
        os.close(read)
        os.close(write)


def test_serving_the_app_without_root_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "running_as_root", lambda: False)
    port = free_port()
    with pytest.raises(AppNotReady, match="needs root") as refused:
        AppProcess(Sandbox(tmp_path), f"python3 -m http.server {port}", port).__enter__()
    assert "\n" not in str(refused.value)


def test_the_app_network_is_entered_only_if_it_is_still_the_apps(tmp_path: Path) -> None:
    """The prefix runs its command in the app's network namespace, checked once inside: the
    same prefix naming another namespace (the app's pid taken by another process) runs
    nothing."""
    port = free_port()
    with AppProcess(Sandbox(tmp_path), f"python3 -m http.server {port}", port) as served:
        served.wait_ready(30)
        assert served.netns_pid is not None
        prefix = app_module.enter_network(served.netns_pid)
        probe = ["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}))"]
        assert subprocess.run([*prefix, *probe], check=False).returncode == 0  # the app's
        other = [*prefix[:-1], "net:[1]"]
        assert subprocess.run([*other, "true"], check=False).returncode != 0


def test_an_app_that_never_answers_200_is_not_ready_in_one_line(tmp_path: Path) -> None:
    """It serves, but its ready path is a 404: the prober gives up at the timeout, and the
    harness says which URL and what the app printed last."""
    port = free_port()
    command = f"python3 -m http.server {port}"
    with AppProcess(Sandbox(tmp_path), command, port, "/no-such-page") as served:
        with pytest.raises(AppNotReady, match=r"/no-such-page did not answer 200 within 1s"):
            served.wait_ready(1)
        assert served.proc is not None and served.proc.poll() is None  # still up, not ready


_KILLED_WHILE_SERVING = """
import os, sys
from pathlib import Path
from harness.sandbox.app import AppProcess, free_port
from harness.sandbox.bwrap import Sandbox
port = free_port()
app = AppProcess(Sandbox(Path(sys.argv[1])), f"python3 -m http.server {port}", port).__enter__()
app.wait_ready(30)
print(app.output(), flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_factory_killed_while_serving_leaves_no_app_log_behind(tmp_path: Path) -> None:
    """The app's output goes to a file with no name: the app's own output is read from it
    while it serves (here, the ready probe's request), and a kill -9 of the factory leaves
    nothing in the temporary folder."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    (tmp_path / "app").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_SERVING, str(tmp_path / "app")],
        env={**os.environ, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    assert '"GET / HTTP/1.1" 200' in done.stdout  # what the app printed, read back
    assert list(temp.iterdir()) == []


def _cgroup_held() -> set[str]:
    cgroup = Cgroup(Limits())
    cgroup.remove()
    return cgroup.held


# a page that takes memory outside the JavaScript heap (typed arrays), 128 MB every 10 ms
HOG = """<!doctype html><title>hog</title><p>taking memory</p><script>
const kept = [];
setInterval(() => { for (let i = 0; i < 8; i++) kept.push(new Uint8Array(16 << 20).fill(1)); }, 10);
</script>"""


@NEEDS_BROWSER[0]
@NEEDS_BROWSER[1]
@pytest.mark.skipif("memory" not in _cgroup_held(), reason="no memory cgroup can be made here")
def test_a_page_that_allocates_without_bound_is_stopped_by_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The confined browser's memory is its cgroup's: the page that takes it all is killed
    there, its journey fails with one line saying so, and the app and the browser are
    untouched (it opens the app's next page)."""
    monkeypatch.setattr(confine, "BROWSER_LIMITS", Limits(memory_mb=768, max_processes=1024))
    site = tmp_path / "site"
    site.mkdir()
    (site / "hog.html").write_text(HOG)
    (site / "index.html").write_text("<!doctype html><title>ok</title><p>still here</p>")
    hog = Journey.model_validate(
        {"name": "hog", "steps": [{"goto": "/hog.html"}, {"expect_text": "never shown"}]}
    )
    fine = Journey.model_validate(
        {"name": "fine", "steps": [{"goto": "/"}, {"expect_text": "still here"}]}
    )
    with served(site, "python3 -m http.server {port}") as (app, session):
        result = run_journey(session, app.base_url, hog, tmp_path / "shots")
        assert not result.passed, result  # at its first step or its second: as it happens
        assert result.actual and "\n" not in result.actual, result
        assert "page crashed" in result.actual and "memory" in result.actual, result
        # the renderer that took the memory was killed, not the browser, the app or the harness
        assert run_journey(session, app.base_url, fine, tmp_path / "shots").passed


def test_chromium_is_the_first_executable_of_debian_s_then_one_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))  # no folder there
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    (tmp_path / "a-folder").mkdir()
    shell = tmp_path / "shell"
    shell.write_text("#!/bin/sh\n")
    places = ("/nowhere/chromium", str(tmp_path / "a-folder"), str(shell))
    monkeypatch.setattr(chromium, "_DEBIAN", (*places, "chromium"))
    with pytest.raises(SandboxError, match="no Chromium found"):
        chromium.find_chromium()  # a folder, or a file that is not executable, is none
    shell.chmod(0o755)
    assert chromium.find_chromium() == str(shell)
    (tmp_path / "path").mkdir()
    shell.rename(tmp_path / "path" / "chromium")  # then one on PATH
    assert chromium.find_chromium() == str(tmp_path / "path" / "chromium")
