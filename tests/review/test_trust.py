"""Earned trust through the engine: with ``trust: {kind:bug: {start: review, earn_after: 2}}``
the first two passing bug fixes wait for a person, the third merges by itself, and a
regression of that kind starts the count over."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.review.conftest import with_trust
from tests.validate.conftest import accept_rule, serve
from tests.validate.test_validate import issue, run_once

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]

FIXES = ["Fix the alpha helper", "Fix the beta helper", "Fix the gamma helper", "Fix delta"]


def _fix(title: str) -> list[dict]:
    name = title.split()[-2 if title.endswith("helper") else -1]
    return [
        accept_rule(title, "A small fix with its test.", kind="bug"),
        {
            "output": "finish",
            "match": title,
            "turns": [
                [
                    {
                        "tool": "write_file",
                        "input": {
                            "path": f"{name}.py",
                            "content": f"def {name}():\n    return {name!r}\n",
                        },
                    },
                    {
                        "tool": "write_file",
                        "input": {
                            "path": f"test_{name}.py",
                            "content": f"import unittest\n\nfrom {name} import {name}\n\n\n"
                            f"class T(unittest.TestCase):\n    def test_{name}(self):\n"
                            f"        self.assertEqual({name}(), {name!r})\n",
                        },
                    },
                ],
                [{"tool": "finish", "input": {"summary": f"{name} with a test."}}],
            ],
        },
    ]


def _file(capsys, repo: Path, title: str) -> int:
    args = ["--repo", str(repo), "issue", "new", "--title", title, "--body", "Please."]
    res = run_cli(capsys, *args, "--author", "owner")
    assert res.code == 0, res.err
    return int(res.out)


def _trust(capsys, repo: Path) -> dict:
    status = run_cli(capsys, "--repo", str(repo), "status", "--json").json()
    return {t["kind"]: t for t in status["trust"]}["bug"]


def _waiting_reason(capsys, repo: Path, n: int) -> str:
    data = issue(capsys, repo, n)
    assert "factory:needs-review" in data["labels"], data["labels"]
    return [c["body"] for c in data["comments"] if "validate:" in c["body"]][-1]


def test_trust_is_earned_by_approved_green_changes_and_reset_by_a_regression(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    from harness.engine import actions as registry

    repo, holdout = app
    with_trust(repo, "{kind:bug: {start: review, earn_after: 2}}")
    rules = [rule for title in FIXES for rule in _fix(title)]
    for _ in serve(tmp_path, monkeypatch, rules):
        for earned, title in enumerate(FIXES[:2]):  # the first two wait and are approved
            n = _file(capsys, repo, title)
            run_once(capsys, repo)
            reason = _waiting_reason(capsys, repo, n)
            assert f"is earned after 2 approved changes that stayed green ({earned} so far)" in (
                reason.replace("  \n", " ")
            ), reason
            assert _trust(capsys, repo)["auto"] is False
            res = run_cli(capsys, "--repo", str(repo), "approve", str(n), "--by", "maintainer")
            assert res.code == 0, res.err
            assert "factory:merged" in issue(capsys, repo, n)["labels"]
        state = _trust(capsys, repo)
        assert state["earned"] == 2 and state["auto"] is True

        third = _file(capsys, repo, FIXES[2])  # trust earned: it merges by itself
        run_once(capsys, repo)
        assert "factory:merged" in issue(capsys, repo, third)["labels"]

        # a regression of that kind: the smoke run after the merge fails and is reverted
        real_merge = registry.get_action("validate.merge")
        assert real_merge is not None
        journey = holdout / "journeys" / "count.yaml"

        def merge_then_holdout_changes(ctx):
            out = real_merge(ctx)
            journey.write_text(
                "name: empty state\nsteps:\n  - goto: /\n  - expect_text: 'No notes yet'\n"
            )
            return out

        monkeypatch.setitem(
            registry.actions().functions, "validate.merge", merge_then_holdout_changes
        )
        fourth = _file(capsys, repo, FIXES[3])
        run_once(capsys, repo)
        assert "factory:regression" in issue(capsys, repo, fourth)["labels"]
        state = _trust(capsys, repo)
        assert state["earned"] == 0 and state["auto"] is False and state["reset_at"]

        # the maintainer takes the journey back; the fix is implemented again and now waits
        journey.unlink()
        monkeypatch.setitem(registry.actions().functions, "validate.merge", real_merge)
        run_once(capsys, repo)
        reason = _waiting_reason(capsys, repo, fourth)
        assert "(0 so far)" in reason, reason
        break
    store = Store.open(tmp_path / "state")
    approvals = [e.data["issue"] for e in store.events() if e.kind == "human.approve"]
    assert approvals == [1, 2]
