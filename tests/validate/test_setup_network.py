"""Agent-written code never runs with the network: an implementer that edits a file
``commands.setup`` executes, to reach a listener on the host's loopback, reaches nothing —
not in implement, not in validation, not in the post-merge smoke run — and the change still
merges (its setup ran again, offline, because it touched a setup input)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.sandbox.bwrap import sandbox_available
from harness.store.db import Store
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
