"""Two refused attempts with the same cause make one lesson with two citations; ``propose``
turns it into one pull request editing factory_rules.md, rehearsed with ``factory backtest
--governance`` on a past case; nothing is proposed again while it is open, nor after it was
closed unmerged; a lesson whose file left production is stale and never proposed; the
gates refuse the proposal's change.

The lesson, its proposal and the decisions its rehearsal moves are the subject: the checks a
rehearsed case's validation waits for (the journeys, the sealed validator, the tests on the
candidate) are stood in for by records saying they passed (``tests/checks_passed.py``), as a
backtest's cases are validated for real in ``tests/backtest/test_backtest.py``; the reviewer's
refusals, the hidden tests' grading and the gates run for real, the security gate's analysers
standing in as having found nothing (``analysers_find_nothing``: no lesson here is about one
of their findings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from harness.cli.common import state_dir
from harness.implement.gates import protected_paths_gate
from harness.serve.app import Dashboard, create_app
from harness.services import open_services
from tests.backtest.conftest import TRUST, history, script
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

ASKED = "No test covers the error path: add_note raising ValueError is never tested."
RULE = "- Every error path has a test: each ValueError a change raises is tested."
REFUSED_TITLES = "Refuse notes (longer than|made of)"


def _tool(name: str, **given: Any) -> list[list[dict[str, Any]]]:
    return [[{"tool": name, "input": given}]]


RULES = [
    {
        "output": "submit_triage",
        "match": REFUSED_TITLES,
        "turns": _tool(
            "submit_triage",
            decision="accept",
            priority="p2",
            kind="feature",
            reason="A listed capability.",
            acceptance_criteria=["Adding such a note on / shows an error."],
        ),
    },
    {
        "output": "submit_review",
        "match": REFUSED_TITLES,
        "turns": _tool(
            "submit_review",
            verdict="request_changes",
            score=0.4,
            findings=[
                {"severity": "high", "description": ASKED, "file": "app.py"},
                {"severity": "medium", "description": "Duplicates a check.", "file": "legacy.py"},
            ],
        ),
    },
    {  # the rehearsed edit in the governance: the same reviewer asks for the missing test
        "output": "submit_review",
        "match": "only tabs",
        "governance": "Every error path has a test",
        "turns": _tool(
            "submit_review",
            verdict="request_changes",
            score=0.3,
            findings=[
                {"severity": "high", "description": "Untested error path.", "file": "app.py"}
            ],
        ),
    },
    {
        "output": "submit_governance_edit",
        "match": "file:app.py",
        "turns": _tool(
            "submit_governance_edit",
            file="factory_rules.md",
            old_text="",
            new_text=RULE,
            title="Every error path has a test",
            why="The reviewer asked twice for a test of an error path.",
        ),
    },
]


def cli(capsys, repo: Path, *args: str, code: int = 0) -> Any:
    res = run_cli(capsys, "--repo", str(repo), *args)
    assert res.code == code, res.err
    return res.json() if "--json" in args else res.out


def refused_twice(tmp_path: Path, capsys) -> Path:
    """The backtest's history (issue 2 fixed, and implemented wrongly by the script), changes
    merging by themselves, no fix attempt; two issues whose attempts the reviewer refused for
    a missing test of an error path in app.py (and a remark on legacy.py, deleted since)."""
    repo = history(tmp_path, capsys, journeys=False)
    config = yaml.safe_load((repo / "factory.yaml").read_text())  # offline, scripted
    config["provider"] = {"type": "scripted", "script": str(script(tmp_path, RULES))}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config))
    rules = repo / "factory_rules.md"
    text = (
        rules.read_text().replace(TRUST, "").replace("max_fix_attempts: 2", "max_fix_attempts: 0")
    )
    rules.write_text("---\nlessons: {cases: 2}\n" + text.removeprefix("---\n"))
    (repo / "legacy.py").write_text("LIMIT = 200\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one fix attempt; legacy.py")
    for title in ("Refuse notes longer than 200 characters", "Refuse notes made of dashes"):
        new = ("issue", "new", "--title", title, "--body", "Show an error.", "--json")
        number = cli(capsys, repo, *new)["number"]
        cli(capsys, repo, "triage")
        res = run_cli(capsys, "--repo", str(repo), "implement", str(number))
        assert res.code == 1, res.err  # the reviewer refused it
    git(repo, "rm", "-q", "legacy.py")
    git(repo, "commit", "-qm", "legacy.py goes")
    return repo


def test_a_lesson_is_proposed_once_rehearsed_and_never_merged(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysers_find_nothing(monkeypatch)
    repo = refused_twice(tmp_path, capsys)
    use_actions(monkeypatch, *CHECKS_PASSED)
    found = {x["about"]: x for x in cli(capsys, repo, "lessons", "--json")}
    taught, gone = found["file:app.py"], found["file:legacy.py"]
    assert [c["words"] for c in taught["citations"]] == [ASKED, ASKED]
    assert {c["issue"] for c in taught["citations"]} == {3, 4}
    assert (taught["independent"], taught["stale"], taught["proposable"]) == (2, False, True)
    assert gone["stale"] and not gone["proposable"] and gone["independent"] == 0
    assert all(c["stale"] == "legacy.py is no longer on production" for c in gone["citations"])

    (row,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert (row["status"], row["about"]) == ("succeeded", "file:app.py")
    # every fixed issue whose fix changed app.py, the file the cause names, newest first
    assert [c["issue"] for c in row["rehearsal"]["cases"]] == [2, 1], row["rehearsal"]
    case = row["rehearsal"]["cases"][0]
    assert (case["issue"], case["triage"], case["route"], case["resolved"]) == (
        2,
        "accept",
        None,
        False,
    )
    assert case["changed"] == [{"field": "route", "before": "merge", "after": None}]
    assert row["rehearsal"]["before"]["false_merges"] == 1
    assert row["rehearsal"]["after"]["false_merges"] == 0

    services = open_services(repo, state_dir(repo))
    pr = services.forge.find_pr(row["branch"])
    assert pr is not None and pr.state == "open" and pr.base == "main"
    assert "route: merge → None" in pr.body and "false merges" in pr.body and ASKED in pr.body
    changed = services.repo.changed_paths("main", row["branch"])
    assert changed == ["factory_rules.md"]
    assert RULE in git(repo, "show", f"{row['branch']}:factory_rules.md")
    assert RULE not in (repo / "factory_rules.md").read_text()  # production untouched
    rules = services.settings.governance.rules
    assert not protected_paths_gate(changed, rules.protected_paths).passed  # never merged

    again = cli(capsys, repo, "lessons", "propose", "--json")
    assert [(r["about"], r.get("pr")) for r in again] == [(None, None)]
    services.forge.close_pr(pr.number)  # a maintainer says no
    assert "pr" not in cli(capsys, repo, "lessons", "propose", "--json")[0]
    found = {x["about"]: x for x in cli(capsys, repo, "lessons", "--json")}
    assert (found["file:app.py"]["proposal"], found["file:app.py"]["proposable"]) == (
        "closed",
        False,
    )
    branches = git(repo, "branch", "--list", "factory/lesson-*").split()
    assert branches == [row["branch"]]
    client = TestClient(
        create_app(Dashboard(services, "t0k3n", "someone", lambda: services))
    )  # the dashboard's Lessons page
    assert client.get("/?token=t0k3n").status_code == 200
    page = client.get("/lessons").text
    assert "file:app.py" in page and f"PR #{pr.number}" in page and "closed" in page
    assert "legacy.py is no longer on production" in page and "route: merge → None" in page
    services.store.close()
