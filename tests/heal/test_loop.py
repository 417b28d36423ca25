"""The loop closes by itself (docs/heal.md, "The loop closes"): a merge breaks a hidden
journey; heal reverts it and files a regression issue; that issue passes the factory's own
pre-screen, is triaged, implemented, validated and merged like any issue; then both issues
are closed — in at most three ``factory run --once`` cycles, with no person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store.db import Store
from tests.factory_repo import git
from tests.heal.conftest import HEADING, three_merges
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.validate.conftest import HOLDOUT_CANARY, accept_rule, issue, run_once, serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REGRESSION = "Regression since"
HEADING_LINE = '        "<h1>Notes</h1>"\n'
FIX = [
    {
        "tool": "edit_file",
        "input": {
            "path": "app.py",
            "old_text": HEADING_LINE,
            "new_text": '        "<h1>Notes</h1><p>Jottings</p>"\n',
        },
    },
    {
        "tool": "edit_file",
        "input": {
            "path": "test_app.py",
            "old_text": "    def test_add_note(self):",
            "new_text": "    def test_jottings_under_the_heading(self):\n"
            '        self.assertIn("<h1>Notes</h1><p>Jottings</p>", render([]))\n\n'
            "    def test_add_note(self):",
        },
    },
]
RULES = [
    accept_rule(REGRESSION, "Bring the new name back without breaking the page.", kind="bug"),
    {
        "output": "finish",
        "match": REGRESSION,
        "turns": [FIX, [{"tool": "finish", "input": {"summary": "Jottings, under Notes."}}]],
    },
]


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    yield from serve(tmp_path, monkeypatch, RULES)


def test_a_broken_journey_is_reverted_fixed_and_both_issues_closed_by_themselves(
    tmp_path: Path, capsys, app, model
) -> None:
    repo, holdout = app
    state = tmp_path / "state"
    _, (culprit_issue, _), _ = three_merges(repo, state)
    (holdout / "journeys" / "heading.yaml").write_text(HEADING)  # the maintainer's new journey

    regression = run_once(capsys, repo)["production"]["reverting"]
    for _ in range(2):
        run_once(capsys, repo)
        if issue(capsys, repo, culprit_issue)["state"] == "closed":
            break

    fixed, culprit = issue(capsys, repo, regression), issue(capsys, repo, culprit_issue)
    assert fixed["state"] == "closed" and "factory:merged" in fixed["labels"], fixed
    assert culprit["state"] == "closed" and "factory:merged" in culprit["labels"], culprit
    assert "factory:in-progress" not in culprit["labels"]
    backs = [c["body"] for c in culprit["comments"] if "Back on production" in c["body"]]
    assert len(backs) == 1 and f"#{regression}" in backs[0]
    triaged = [c["body"] for c in fixed["comments"] if "Accepted" in c["body"]]
    assert triaged, fixed["comments"]  # the triage agent judged it: no person held it
    page = git(repo, "show", "main:app.py")
    assert "<h1>Notes</h1><p>Jottings</p>" in page
    store = Store.open(state)
    assert store.events(kind="human.") == []  # no person
    for said in [fixed["body"], *(c["body"] for c in fixed["comments"] + culprit["comments"])]:
        assert HOLDOUT_CANARY not in said and "the heading" not in said
