"""Production health first: red production stops implement and validate before anything is
spent; heal finds what broke it (docs/heal.md); green again, the cycle goes on by itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.artifacts import Blame
from harness.engine.records import RunRecords
from harness.store.db import Store
from tests.checks_passed import CHECKS_PASSED
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.validate.conftest import file_issues, issue, journeys_pass, run_once, serve

BROKEN = (
    "import unittest\n\n\nclass Broken(unittest.TestCase):\n"
    "    def test_broken(self):\n        self.assertEqual(1, 2)\n"
)


# the planner of "how many notes" declines it: once production is green, the cycle's
# implement run shows that it went on, and ends there (nothing to validate)
DECLINE = {
    "output": "submit_plan",
    "match": "how many notes",
    "turns": [
        [
            {
                "tool": "submit_plan",
                "input": {
                    "plan": "None.",
                    "files": [],
                    "outcome": "blocked",
                    "reason": "A person should decide where the count goes.",
                },
            }
        ]
    ],
}


@pytest.fixture
def declining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    yield from serve(tmp_path, monkeypatch, [DECLINE])


@pytest.mark.slow
def test_a_maintainers_commit_that_breaks_production_goes_to_one_issue_for_a_person(
    tmp_path: Path, capsys, app, declining, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Heal blames the maintainer's commit (the bisect finds it) and reverts nothing: the
    cycle stops, one issue for a person says which test fails since which commit, and no
    change is blamed; green again, the cycle goes on by itself and the issue is closed. What
    breaks production is its suite: the hold-out's journeys stand in as passed, and so do the
    checks the change waits for once the cycle goes on."""
    repo, _ = app
    journeys_pass(monkeypatch)
    file_issues(capsys, repo, [1])
    (repo / "test_broken.py").write_text(BROKEN)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a maintainer breaks production")
    broken = git(repo, "rev-parse", "HEAD").strip()

    for _ in range(2):
        result = run_once(capsys, repo)
        production = result["production"]
        assert production["green"] is False and production["outcome"] == "needs_human"
        assert result["implement"] == [] and result["validate"] == []
    assert git(repo, "rev-parse", "main").strip() == broken  # nothing reverted
    store = Store.open(tmp_path / "state")
    assert store.list_runs(limit=None, workflow="implement") == []
    assert store.list_runs(limit=None, workflow="validate") == []
    # the second cycle found the person's issue
    (heal,) = store.list_runs(limit=None, workflow="heal")
    blame = RunRecords(store.steps(heal.id)).newest(Blame)
    assert blame is not None and blame.culprit == broken and blame.culprit_kind == "maintainer"
    # its test alone on the red commit, failing there; the commit before passes: nothing else
    alone, before = blame.probes
    assert (alone.sha, alone.alone, before.failed) == (broken, True, [])
    runs = run_cli(capsys, "--repo", str(repo), "runs", "--json").json()
    assert [r["outcome"] for r in runs if r["workflow"] == "heal"] == ["needs_human"]

    tracking = int(production["tracking"])
    data = issue(capsys, repo, tracking)
    assert data["state"] == "open" and "factory:needs-human" in data["labels"]
    assert "test_broken.Broken.test_broken" in data["body"] and broken[:12] in data["body"]
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", str(tracking)).out
    assert "test_broken.Broken.test_broken" in shown and "<!--" not in shown  # as GitHub shows it
    filed = run_cli(capsys, "--repo", str(repo), "issue", "list", "--json").json()
    assert [i["number"] for i in filed if i["author"] == "factory[bot]"] == [tracking]
    first = issue(capsys, repo, 1)
    assert "factory:in-progress" not in first["labels"] and "factory:accepted" in first["labels"]
    assert not any("health" in c["body"] for c in first["comments"])  # no change blamed

    git(repo, "rm", "-q", "test_broken.py")
    git(repo, "commit", "-qm", "production fixed")
    use_actions(monkeypatch, *CHECKS_PASSED)
    result = run_once(capsys, repo)
    assert result.get("production", {"green": True})["green"]  # green: the cycle went on
    assert [row["issue"] for row in result["implement"]] == [1]
    closed = issue(capsys, repo, tracking)
    assert closed["state"] == "closed"
    assert any("factory:health:green" in c["body"] for c in closed["comments"])


CRASH = (
    "step check failed: the sealed validator crashed (exit 1): Browser logs: <launching> "
    "/usr/lib/chromium/chromium --disable-field-trial-config --remote-debugging-pipe"
)


@pytest.mark.parametrize("name", ["health_red", "validate_failed"])
@pytest.mark.parametrize("kind", ["model", "sandbox", "internal", "git"])
def test_a_failure_of_the_harness_shows_none_of_its_command_lines(name: str, kind: str) -> None:
    """What the harness itself failed at is said in its own words in a public comment (the
    error, with whatever command line it quotes, stays in the run's record)."""
    from harness.engine.templates import Templates

    failure = {"step": "check", "kind": kind, "error": CRASH}
    text = Templates().render(f"comments/{name}.md.j2", failure=failure, run_id="r-1")
    assert "chromium" not in text and "--disable" not in text and "factory report r-1" in text
    worded = {**failure, "kind": "refused", "error": "production abc is red: `make test` exited 1"}
    assert "exited 1" in Templates().render(f"comments/{name}.md.j2", failure=worded, run_id="r")


def test_health_of_a_production_known_green_imports_no_browser_and_no_model_sdk(
    tmp_path: Path, capsys, app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron's ``factory health`` on production checked green and unchanged since starts no
    check: it reads the store, and its process imports neither Playwright nor the model's SDK
    (with them it cost 0.75 s of CPU against 0.55). The first health checks it: its suite for
    real, its hold-out journey standing in as passed."""
    repo, _ = app
    journeys_pass(monkeypatch)
    first = run_cli(capsys, "--repo", str(repo), "health", "--json").json()
    assert first["green"] is True and first["run_id"], first
    probe = (
        "import json, sys\nfrom harness.cli import main\n"
        f"try:\n    main(['--repo', {str(repo)!r}, 'health', '--json'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    said, imported = out[: out.rindex("[")], json.loads(out[out.rindex("[") :])
    assert json.loads(said) == {"green": True, "revert_landed": None, "green_now": True}, said
    assert {"playwright", "anthropic"}.isdisjoint(imported), imported
