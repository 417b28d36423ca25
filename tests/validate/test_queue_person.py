"""A change ahead in the merge queue that will wait for a person is not built upon: the change
behind it is judged on production and validated once. One that was built upon and did not
land sends the change behind it to be validated again, saying so — production did not move."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.validate.conftest import (
    accept_rule,
    issue,
    journeys_pass,
    make_app,
    queued_together,
    run_once,
    serve,
    set_rules,
    validators_pass,
)

FIRST = "Add a page about the notes"
SECOND = "Add a page of credits"
# the reviewer's medium finding on the first change, longer than a pull request body keeps
FINDING = (
    "Nothing links to the new page, so a reader never finds it"
    + (", and the home page says nothing of it either" * 40)
    + "."
)


def _writes(title: str, path: str) -> dict:
    """The implementer of ``title``: one new file (two such changes merge cleanly)."""
    return {
        "output": "finish",
        "match": title,
        "turns": [
            [{"tool": "write_file", "input": {"path": path, "content": f"# {title}\n"}}],
            [{"tool": "finish", "input": {"summary": f"Added {path}."}}],
        ],
    }


def _checks(store: Store, number: int) -> list[dict]:
    return [
        s.outputs
        for r in store.list_runs(limit=None, workflow="validate", issue=number)
        for s in store.steps(r.id)
        if s.step_id == "check" and s.status == "succeeded"
    ]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("kind", "score"), [("feature", 1.0), ("chore", 0.8)], ids=["kind-untrusted", "review-band"]
)
def test_a_change_ahead_that_waits_for_a_person(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, kind: str, score: float
) -> None:
    """#1 joins the merge queue first and ends needs-review, the reviewer's finding on it
    whole in the comment that says so; #2 (a chore, which merges by
    itself) lands. When #1's kind has not earned trust, #1 will wait for a person whatever
    its validation says: #2 is built on production and validated once. When #1 could have
    merged (its kind trusted) but its score falls in the review band, #2 was built on it and
    is validated again, the reason naming the change that did not land, not a move of
    production."""
    repo, _ = make_app(tmp_path)
    set_rules(repo, trust={"kind:feature": {"start": "review", "earn_after": 3}})
    journeys_pass(monkeypatch)
    analysers_find_nothing(monkeypatch)
    validators_pass(monkeypatch, issues=(1,), score=score)
    validators_pass(monkeypatch, issues=(2,))
    queued_together(monkeypatch, order=[1, 2])
    rules = [
        accept_rule(FIRST, "A page the notes lack.", kind=kind),
        accept_rule(SECOND, "Credits are due.", kind="chore"),
        _writes(FIRST, "about.md"),
        _writes(SECOND, "credits.md"),
        {
            "output": "submit_review",
            "match": FIRST,
            "turns": [
                [
                    {
                        "tool": "submit_review",
                        "input": {
                            "verdict": "approve",
                            "score": 0.9,
                            "findings": [
                                {"severity": "medium", "description": FINDING, "file": "about.md"}
                            ],
                        },
                    }
                ]
            ],
        },
    ]
    for _ in serve(tmp_path, monkeypatch, rules):
        for title in (FIRST, SECOND):
            new = ("issue", "new", "--title", title, "--body", "Please.", "--author", "owner")
            assert run_cli(capsys, "--repo", str(repo), *new).code == 0
        run_once(capsys, repo, "--max-parallel", "3")
    waiting = issue(capsys, repo, 1)
    assert "factory:needs-review" in waiting["labels"]
    # the reviewer's finding, whole, in the comment a maintainer decides from
    (decided,) = [
        c["body"] for c in waiting["comments"] if "needs a maintainer's review" in c["body"]
    ]
    assert f"[medium] {FINDING}" in decided and "about.md" in decided
    assert "factory:merged" in issue(capsys, repo, 2)["labels"]
    store = Store.open(tmp_path / "state")
    checks = _checks(store, 2)
    if kind == "feature":
        # judged on production, once: nothing ahead it could land on
        (checked,) = checks
        assert checked["base"] is None and checked["queued"] == [], checked
        return
    first, again = checks
    assert first["queued"] == [1] and first["base"] is not None
    assert again["base"] is None and again["production_sha"] == first["production_sha"]
    (run,) = store.list_runs(limit=None, workflow="validate", issue=2)
    (waited,) = [s for s in store.steps(run.id) if s.step_id == "wait" and s.status == "failed"]
    assert "the changes it was built on (#1) did not land; main did not move" in str(waited.error)
    assert "moved to" not in str(waited.error)
