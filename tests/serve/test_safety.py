"""The dashboard's safety: token on every page and action, CSRF on every action, evidence
confined to the state's evidence folder, no secret in any page, loopback by default."""

from __future__ import annotations

import re
from contextlib import closing
from urllib.parse import urlsplit

import pytest

from harness.engine.killswitch import KILL_SWITCH
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.serve.conftest import (
    ACTOR,
    ANTHROPIC_CANARY,
    GITHUB_CANARY,
    Demo,
    Server,
)

pytestmark = [pytest.mark.slow, pytest.mark.together("demo-cycle")]


def _shot(demo: Demo) -> str:
    found = sorted((demo.state_dir / "evidence").glob("*/candidate/add-a-note-step3.png"))
    assert found, "the demo's refused journey left no screenshot"
    return "/evidence/" + found[0].relative_to(demo.state_dir / "evidence").as_posix()


def _pages(demo: Demo) -> list[str]:
    return [
        "/",
        "/queue",
        "/queue?state=factory%3Amerged&page=2",
        "/queue?state=%3Cscript%3E&page=9999999999",  # not a state, not a page: the first pages
        "/issues/5",
        "/issues/1",
        "/runs",
        "/runs?workflow=validate&status=succeeded",
        f"/runs/{demo.planted_run}",
        "/trends",
        "/backtest",
        "/lessons",
        "/static/live.js",
        _shot(demo),
    ]


def _kill_switch(demo: Demo) -> str | None:
    with closing(Store.open(demo.state_dir)) as store:
        return store.get_flag(KILL_SWITCH)


def _csrf(server: Server, cookie: str) -> str:
    status, _, body = server.request("GET", "/", cookie=cookie)
    assert status == 200
    found = re.search(rb'name="csrf" value="([^"]+)"', body)
    assert found
    return found.group(1).decode()


def test_the_server_listens_on_loopback_and_prints_the_url_first(server: Server) -> None:
    parts = urlsplit(server.url)
    assert parts.hostname == "127.0.0.1" and parts.port and parts.path == "/"
    assert parts.query == f"token={server.token}" and len(server.token) >= 32


def test_the_token_opens_a_strict_httponly_session_and_leaves_the_address(server: Server) -> None:
    status, headers, _ = server.request("GET", f"/queue?token={server.token}")
    assert status == 303 and headers["location"] == "/queue"
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert server.token.lower() not in cookie


def test_without_the_token_every_page_and_action_is_refused(server: Server, demo: Demo) -> None:
    for path in [*_pages(demo), "/events"]:
        status, _, body = server.request("GET", path)
        assert status == 401, path
        assert b"token" in body
        sep = "&" if "?" in path else "?"
        status, _, _ = server.request("GET", f"{path}{sep}token=not-the-token")
        assert status == 403, path
        forged = f"factory_session_{urlsplit(server.base).port}=forged"
        status, _, _ = server.request("GET", path, cookie=forged)
        assert status == 401, path
    for action in ("/stop", "/resume", "/issues/4/approve", "/issues/4/reject"):
        status, _, _ = server.request("POST", action, body="reason=x")
        assert status == 401, action
        status, _, _ = server.request("POST", f"{action}?token={server.token}", body="reason=x")
        assert status == 403, action  # the token opens a session; it is no action's credential
    assert _kill_switch(demo) is None
    _untouched(demo, 4)


def _untouched(demo: Demo, number: int) -> None:
    with closing(Store.open(demo.state_dir)) as store:
        assert store.issue(number).labels == ("factory:needs-human",)
        assert store.issue(number).state == "open"
        human = [e for e in store.events() if e.kind.startswith("human.")]
        assert not [e for e in human if e.data.get("issue") == number]


def test_an_action_without_the_csrf_token_or_from_another_site_is_refused(
    server: Server, demo: Demo
) -> None:
    cookie = server.session()
    csrf = _csrf(server, cookie)
    refused = [
        ("reason=x", {}),
        ("reason=x&csrf=", {}),
        ("reason=x&csrf=" + "A" * len(csrf), {}),
        (f"reason=x&csrf={csrf}", {"Origin": "http://evil.example"}),
        (f"reason=x&csrf={csrf}", {"Origin": "null"}),
    ]
    for body, headers in refused:
        status, _, _ = server.request("POST", "/stop", cookie=cookie, body=body, headers=headers)
        assert status == 403, (body, headers)
        assert _kill_switch(demo) is None
    for action in ("/issues/4/approve", "/issues/4/reject"):
        for body, headers in refused:
            status, _, _ = server.request("POST", action, cookie=cookie, body=body, headers=headers)
            assert status == 403, (action, body, headers)
    _untouched(demo, 4)
    # another session's CSRF token is not this session's
    other = _csrf(server, server.session())
    status, _, _ = server.request("POST", "/stop", cookie=cookie, body=f"csrf={other}")
    assert status == 403 and _kill_switch(demo) is None
    # the same request with this session's token and from the dashboard itself goes through
    own = {"Origin": server.base}
    status, _, _ = server.request("POST", "/stop", cookie=cookie, body=f"csrf={csrf}", headers=own)
    assert status == 303 and _kill_switch(demo)
    status, _, _ = server.request("POST", "/resume", cookie=cookie, body=f"csrf={csrf}")
    assert status == 303 and _kill_switch(demo) is None


STOP_REASONS = [
    # (reason as given, what the one rule answers: the reason kept, or a piece of the refusal)
    ("  night shift over  ", "night shift over"),
    ("x\x1b]0;title\x07", "control character U+001B"),
    ("two\nlines", "control character U+000A"),
    ("x" * 501, "501 characters"),
]


@pytest.mark.parametrize(("given", "answer"), STOP_REASONS, ids=["kept", "escape", "lf", "long"])
def test_the_stop_reason_follows_one_rule_on_the_dashboard_and_the_cli(
    server: Server, demo: Demo, capsys, monkeypatch, given: str, answer: str
) -> None:
    """The dashboard's stop form and 'factory stop --reason' take the same reasons and refuse
    the same ones with the same words (one rule: harness.engine.killswitch.stop_reason)."""
    from urllib.parse import quote

    cookie = server.session()
    csrf = _csrf(server, cookie)
    body = f"csrf={csrf}&reason={quote(given)}"
    status, _, page = server.request("POST", "/stop", cookie=cookie, body=body)
    from_dashboard = _kill_switch(demo)
    server.request("POST", "/resume", cookie=cookie, body=f"csrf={csrf}")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(demo.state_dir))
    cli = run_cli(capsys, "--repo", str(demo.repo), "stop", "--reason", given)
    from_cli = _kill_switch(demo)
    run_cli(capsys, "--repo", str(demo.repo), "resume")
    assert _kill_switch(demo) is None
    if answer == given.strip():
        assert status == 303 and cli.code == 0, (page, cli.err)
        assert from_dashboard == from_cli == answer
    else:
        assert status == 400 and from_dashboard is None
        assert answer.encode() in page and b"not stopped" in page
        assert cli.code == 2 and len(cli.err.splitlines()) == 1 and from_cli is None
        assert answer in cli.err and "--reason" in cli.err


def test_a_blank_stop_reason_on_the_dashboard_names_who_stopped(server: Server, demo: Demo) -> None:
    cookie = server.session()
    csrf = _csrf(server, cookie)
    status, _, _ = server.request("POST", "/stop", cookie=cookie, body=f"csrf={csrf}&reason=+")
    assert status == 303 and _kill_switch(demo) == f"stopped from the dashboard by {ACTOR}"
    server.request("POST", "/resume", cookie=cookie, body=f"csrf={csrf}")
    assert _kill_switch(demo) is None


def test_a_cross_site_form_in_the_browser_is_refused(browser, server: Server, demo: Demo) -> None:
    """A page elsewhere that posts to the dashboard: the strict cookie is not sent and the
    form has no CSRF token."""
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(server.url)  # the operator's session in this browser
        assert any(c["name"].startswith("factory_session") for c in context.cookies())
        form = (
            f'<form id=f method=post action="{server.base}/stop">'
            "<input name=reason value=pwned><input name=csrf value=guess></form>"
        )
        context.route(
            "http://evil.example/**",
            lambda route: route.fulfill(body=form, content_type="text/html"),
        )
        tab.goto("http://evil.example/")
        statuses: list[int] = []
        tab.on("response", lambda r: statuses.append(r.status) if "/stop" in r.url else None)
        with tab.expect_navigation():
            tab.evaluate("document.getElementById('f').submit()")
        assert statuses and statuses[0] in (401, 403)
        assert _kill_switch(demo) is None
    finally:
        context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/evidence/../../etc/passwd",
        "/evidence/../state.db",
        "/evidence/../marker.key",
        "/evidence/%2e%2e/%2e%2e/etc/passwd",
        "/evidence/%2E%2E/marker.key",
        "/evidence/..%2fmarker.key",
        "/evidence/..%2F..%2Fetc%2Fpasswd",
        "/evidence/%2fetc%2fpasswd",
        "/evidence//etc/passwd",
        "/evidence/..%5cmarker.key",
        "/evidence/x/%00/../../marker.key",
        "/evidence/link-out.png",
        "/evidence/link-dir/marker.key",
        "/evidence/notes.txt",
    ],
)
def test_evidence_outside_the_evidence_folder_is_refused(
    server: Server, demo: Demo, path: str
) -> None:
    evidence = demo.state_dir / "evidence"
    if not (evidence / "link-out.png").is_symlink():
        (evidence / "link-out.png").symlink_to(demo.state_dir / "marker.key")
        (evidence / "link-dir").symlink_to(demo.state_dir)
        (evidence / "notes.txt").write_text("not an image")
    cookie = server.session()
    status, _, body = server.request("GET", path, cookie=cookie)
    assert status in (400, 403, 404), status
    assert b"root:" not in body
    assert (demo.state_dir / "marker.key").read_bytes() not in body
    status, headers, body = server.request("GET", _shot(demo), cookie=cookie)
    assert status == 200 and headers["content-type"] == "image/png"
    assert body.startswith(b"\x89PNG")


def test_no_secret_appears_in_any_page(server: Server, demo: Demo) -> None:
    cookie = server.session()
    secrets_ = [
        ANTHROPIC_CANARY,
        ANTHROPIC_CANARY[:20],
        GITHUB_CANARY,
        GITHUB_CANARY[-20:],
        server.token,
        (demo.state_dir / "marker.key").read_bytes().hex(),
    ]
    key = (demo.state_dir / "marker.key").read_bytes()
    for path in _pages(demo)[:-1]:
        status, _, body = server.request("GET", path, cookie=cookie)
        assert status == 200, path
        for secret in secrets_:
            assert secret.encode() not in body, (path, secret[:6])
        assert key not in body
    _, _, run_page = server.request("GET", f"/runs/{demo.planted_run}", cookie=cookie)
    assert run_page.count(b"[redacted]") >= 2  # the transcript that quoted both keys


def test_serve_on_all_interfaces_warns(demo: Demo, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """``factory serve --host 0.0.0.0`` in this process, up to where it starts answering (the
    server's loop is what returns at once): the URL first, then the warning, and the socket
    it hands the server bound to every interface."""
    import uvicorn

    monkeypatch.setenv("FACTORY_STATE_DIR", str(demo.state_dir))
    handed: list[tuple[str, int]] = []
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda _, sockets: handed.extend(s.getsockname() for s in sockets)
    )
    res = run_cli(capsys, "--repo", str(demo.repo), "serve", "--host", "0.0.0.0", "--port", "0")
    assert res.code == 0, res.err
    first = res.out.splitlines()[0]
    assert first.startswith("http://0.0.0.0:") and "/?token=" in first
    warning = res.err.splitlines()[0]
    assert "warning" in warning and "0.0.0.0" in warning
    (bound,) = handed
    assert bound[0] == "0.0.0.0" and first.startswith(f"http://0.0.0.0:{bound[1]}/")


def test_a_bad_port_is_one_line_and_exit_2(capsys) -> None:
    res = run_cli(capsys, "serve", "--port", "70000")
    assert res.code == 2
    assert res.err.count("\n") == 1 and "--port" in res.err


@pytest.mark.parametrize("host", ["", " ", " 127.0.0.1"])
def test_an_empty_host_is_refused_never_every_interface(capsys, host: str) -> None:
    """To the socket layer '' means every interface: the command refuses it before it looks
    for a repository or opens a socket."""
    res = run_cli(capsys, "serve", "--host", host, "--port", "0")
    assert res.code == 2 and res.out == ""
    assert res.err.count("\n") == 1 and "--host" in res.err and "0.0.0.0" in res.err


def test_pages_that_do_not_exist_are_404(server: Server) -> None:
    cookie = server.session()
    for path in ("/issues/999", "/issues/99999999999999999999999", "/runs/r-nothing", "/static/x"):
        status, _, body = server.request("GET", path, cookie=cookie)
        assert status == 404, path
        assert b"Traceback" not in body


def test_each_read_only_page_shows_what_its_reads_give(server: Server, demo: Demo) -> None:
    """A page is its template filled by the reads it names (``Dashboard.showing``): a read
    given under another name than the template's leaves that part of the page empty."""
    cookie = server.session()
    shown = {
        "/": ("(per_day_usd)", "finished issues went from filed to merged"),
        "/trends": (
            "merges per day",
            "cost per merged issue (USD)",
            "refusals by reason (30 days)",
            "Autonomy Index (30 days up to each day)",
        ),
        f"/runs/{demo.planted_run}": (f"Run {demo.planted_run}", "Model calls"),
        "/health": ("Last green production: <code>",),
    }
    for path, texts in shown.items():
        status, _, body = server.request("GET", path, cookie=cookie)
        assert status == 200, path
        for text in texts:
            assert text.encode() in body, (path, text)


def test_the_sanitiser_removes_what_a_renderer_would_let_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Markdown renderer keeps raw HTML as text; were it set to pass HTML through, the
    sanitiser still removes every script, handler, ``javascript:`` link and image."""
    from harness.reports import text

    monkeypatch.setattr(text, "RAW_HTML", True)
    planted = (
        '<script>x()</script><a href="javascript:x()" onclick="x()">a</a>'
        '<img src=x onerror="x()"><iframe src="/"></iframe><p style="color:red">p</p>'
    )
    html = str(text.markdown(planted))
    for part in ("<script", "onclick", "javascript:", "<img", "onerror", "<iframe", "style="):
        assert part not in html, html
    assert ">a</a>" in html and ">p</p>" in html
