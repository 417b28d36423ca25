"""The validation fixtures (the demo's notes app, the stand-in Messages API), reused; and the
story ``test_trust.py`` and ``test_decisions.py`` both read: bug fixes through the engine, a
person approving one and rejecting another with the real commands."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import Look, ProductionInputs
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.store.db import Store
from tests.checks_passed import (
    CHECKS_PASSED,
    analysers_find_nothing,
    calibrated,
    checked,
    smoked,
    taught_checks_fail,
    verdicts_pass,
)
from tests.cli_helpers import Result, run_cli, use_actions
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.store_reads import pull_requests
from tests.validate.conftest import (
    Output,
    accept_rule,
    app,
    isolated_env,
    issue,
    landed_tested_trees,
    make_app,
    run_once,
    serve,
    standin,
)

__all__ = ["app", "standin", "with_trust"]


@action("heal.look")
def known_green(ctx: StepContext, inputs: ProductionInputs) -> Look:
    """Production's tree stands in as known green: the cycle checks no health (its tests and
    journeys, an app and a browser), for a cycle whose production nothing of the story reads."""
    return Look(check=False, green=True)


def with_trust(repo: Path, trust: str) -> None:
    """Put a ``trust:`` entry (flow YAML) into the repository's factory_rules.md front matter
    on production, as a maintainer would commit it."""
    rules = repo / "factory_rules.md"
    text = rules.read_text()
    assert text.startswith("---\n")
    rules.write_text(f"---\ntrust: {trust}\n" + text.removeprefix("---\n"))
    git(repo, "commit", "-qam", "Earned trust")


TRUST = "{kind:bug: {start: review, earn_after: 1}}"
FIXES = ["Fix the alpha helper", "Fix the beta helper"]


def _fix(title: str) -> list[dict[str, Any]]:
    name = title.split()[-2]
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


@dataclass(frozen=True)
class Story:
    """What the story left, and what it saw on the way (``status --json``'s trust entry for
    bugs, ``issue show --json``, the commands' results) at each point the tests look at."""

    repo: Path
    state: Path
    first: int  # the bug fix that waits and is approved by "alice"
    first_cycle: Result  # factory run --once --json that left it waiting
    waited: list[str]  # its validation comments while it waited
    waiting_labels: list[str]
    trust_waiting: dict[str, Any]
    main_before_approval: str
    killed: list[int]  # exit codes: factory approve FIRST killed, the next cycle killed too
    approve_said: str  # what that approve said on stderr (its live line, piped) until then
    main_after_kill: str
    when_killed: list[Result]  # approve, reject and retry FIRST then
    finished: dict[str, Any]  # factory run --once --json after it
    approved_issue: dict[str, Any]
    main_after_approval: str
    trust_earned: dict[str, Any]
    second: int  # the next bug fix: merged by itself, then reverted by its smoke run
    regressed_issue: dict[str, Any]
    trust_reset: dict[str, Any]
    waited_again: list[str]  # its validation comments once implemented again
    waiting_again_labels: list[str]
    open_pr: int  # the pull request that waited then
    main_before_rejection: str
    rejected: Result  # factory reject SECOND --by bob --reason ...
    rejected_issue: dict[str, Any]
    main_after_rejection: str
    decided_again: list[Result]  # approve SECOND, reject FIRST: neither waits any more
    status: dict[str, Any]  # status --json at the end


REASON = "Not now: see https://evil.example/x <b>bold</b>"


def _file(out: Output, repo: Path, title: str) -> int:
    args = ["--repo", str(repo), "issue", "new", "--title", title, "--body", "Please."]
    res = run_cli(out, *args, "--author", "owner", "--json")
    assert res.code == 0, res.err
    return int(res.json()["number"])


def _bug_trust(out: Output, repo: Path) -> dict[str, Any]:
    status = run_cli(out, "--repo", str(repo), "status", "--json").json()
    return {t["kind"]: t for t in status["trust"]}["bug"]


def _comments(data: dict[str, Any]) -> list[str]:
    return [c["body"] for c in data["comments"] if "validate:" in c["body"]]


def _main(repo: Path) -> str:
    return git(repo, "rev-parse", "main").strip()


@pytest.fixture(scope="package")
def trust_story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    """With ``trust: {kind:bug: {start: review, earn_after: 1}}``: the first bug fix waits for
    a person, who approves it with ``factory approve``, killed (``kill -9``) after its decide
    step; the next cycle takes it up and is killed right after the merge, before it recorded
    it; the cycle after finishes it; the second then merges by itself, but
    the smoke run after its merge fails (a hold-out journey production does not pass appears
    the moment it lands), so it is reverted and trust starts over; implemented again it waits,
    and a person rejects it with ``factory reject``.

    The first fix's tests and journeys run for real (the tree it lands is the tested one), the
    sealed validator's verdict beside them standing in as passed (``verdicts_pass``: nothing
    of the story reads it; ``tests/validate`` runs it), and the smoke run after its merge (its
    hold-out and the checks it would learn, on production once it landed: nothing of the
    story reads them); the second's checks stand in as
    records saying they passed (``tests/checks_passed.py``: what trust does with a route, and
    a person's rejection, are what is read of it), but for the smoke run after its merge,
    which fails for real (its hold-out's journeys in their apps and browsers; the learned
    checks the stood-in verdict would teach, tried beside them, failing as their replay in
    a browser does, without one: ``taught_checks_fail``; nothing of the story reads them).
    The security gate's analysers stand in as having found nothing in either fix
    (``analysers_find_nothing``): what holds the first fix is trust, not a gate. Production's
    health is checked for real in the first cycle (which calibrates the first fix's
    validation too), and stands in as known green in the second fix's cycles (``known_green``):
    nothing of the story reads it."""
    from harness.engine import actions as registry

    root = tmp_path_factory.mktemp("trust-story")
    state = root / "state"
    repo, holdout = make_app(root)
    with_trust(repo, TRUST)
    rules = [rule for title in FIXES for rule in _fix(title)]
    with isolated_env(state) as mp, Output() as out:
        analysers_find_nothing(mp)
        for _ in serve(root, mp, rules):
            first = _file(out, repo, FIXES[0])
            with pytest.MonkeyPatch.context() as sealed:
                verdicts_pass(sealed)
                first_cycle = run_cli(out, "--repo", str(repo), "run", "--once", "--json")
            waiting = issue(out, repo, first)
            trust_waiting = _bug_trust(out, repo)
            main_before_approval = _main(repo)
            # the approval (as the dashboard's Approve runs it) is killed once it decided to
            # merge; the next cycle takes it up, and is killed right after the merge
            killed, said = [], []
            for point, args in (
                ("validate.decide.done", ("approve", str(first), "--by", "alice")),
                ("validate.merge.done", ("run", "--once")),
            ):
                crashed = factory(repo, {**os.environ, "FACTORY_FAULT_AT": point}, *args)
                killed.append(crashed.wait(600))
                said.append(crashed.communicate()[1])
            main_after_kill = _main(repo)
            # what a person is told then: the change is on production, nothing to decide
            when_killed = [
                run_cli(out, "--repo", str(repo), *args)
                for args in (("approve", str(first)), ("reject", str(first), "--reason", "no"))
            ] + [run_cli(out, "--repo", str(repo), "retry", str(first))]
            with pytest.MonkeyPatch.context() as checks_passed:  # the next cycle finishes it
                use_actions(checks_passed, smoked)  # production after it: nothing reads it
                finished = run_once(out, repo)
            approved_issue = issue(out, repo, first)
            main_after_approval = _main(repo)
            trust_earned = _bug_trust(out, repo)

            # trust earned: the next fix merges by itself; a hold-out journey production does
            # not pass appears as it lands, so the smoke run after the merge fails
            real_merge = registry.actions().functions["validate.merge"]
            assert real_merge is not None
            journey = holdout / "journeys" / "count.yaml"

            def merge_then_holdout_changes(ctx, **records):
                landed = real_merge(ctx, **records)
                journey.write_text(
                    "name: empty state\nsteps:\n  - goto: /\n  - expect_text: 'No notes yet'\n"
                )
                return landed

            mp.setitem(registry.actions().functions, "validate.merge", merge_then_holdout_changes)
            second = _file(out, repo, FIXES[1])
            with pytest.MonkeyPatch.context() as checks_passed:  # its smoke run alone is real
                use_actions(checks_passed, known_green, calibrated, checked)
                taught_checks_fail(checks_passed)  # beside it: what the stand-in taught
                run_once(out, repo)
            regressed_issue = issue(out, repo, second)
            trust_reset = _bug_trust(out, repo)

            # the maintainer takes the journey back; the fix is implemented again and waits
            journey.unlink()
            mp.setitem(registry.actions().functions, "validate.merge", real_merge)
            with pytest.MonkeyPatch.context() as checks_passed:
                use_actions(checks_passed, known_green, *CHECKS_PASSED)
                run_once(out, repo)
            waiting_again = issue(out, repo, second)
            store = Store.open(state)
            (pr,) = [p.number for p in pull_requests(store, issue=second) if p.state == "open"]
            store.close()

            main_before_rejection = _main(repo)
            args = ("reject", str(second), "--by", "bob", "--reason", REASON)
            rejected = run_cli(out, "--repo", str(repo), *args)
            rejected_issue = issue(out, repo, second)
            main_after_rejection = _main(repo)
            decided_again = [
                run_cli(out, "--repo", str(repo), *args)
                for args in (("approve", str(second)), ("reject", str(first), "--reason", "late"))
            ]
            status = run_cli(out, "--repo", str(repo), "status", "--json").json()
    landed_tested_trees(state)
    return Story(
        repo=repo,
        state=state,
        first=first,
        first_cycle=first_cycle,
        waited=_comments(waiting),
        waiting_labels=waiting["labels"],
        trust_waiting=trust_waiting,
        main_before_approval=main_before_approval,
        killed=killed,
        approve_said=said[0],
        main_after_kill=main_after_kill,
        when_killed=when_killed,
        finished=finished,
        approved_issue=approved_issue,
        main_after_approval=main_after_approval,
        trust_earned=trust_earned,
        second=second,
        regressed_issue=regressed_issue,
        trust_reset=trust_reset,
        waited_again=_comments(waiting_again),
        waiting_again_labels=waiting_again["labels"],
        open_pr=pr,
        main_before_rejection=main_before_rejection,
        rejected=rejected,
        rejected_issue=rejected_issue,
        main_after_rejection=main_after_rejection,
        decided_again=decided_again,
        status=status,
    )
