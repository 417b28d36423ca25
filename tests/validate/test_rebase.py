"""A conflict is production's move, not the change's fault (docs/gates.md, "Retries start
where production is"): a change a person approved, whose test file as many neighbours changed
first as ``max_rebases`` allows, each landing before it, is rebased each time without spending
a fix attempt and lands; past ``max_rebases`` in a row a person resolves it.

The checks a merging candidate waits for are not this module's subject: they stand in as
passed (``tests/checks_passed.py``), and so do the hold-out's journeys of production's health
in each cycle and the security gate's analysers of each attempt
(``analysers_find_nothing``); a candidate that no longer merges with production is
checked by the real ``validate.check``, which finds the conflict before any check runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import Baseline, CheckResult, Landing, Prepared, Validation
from harness.config.models import Rules
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.store.db import Store
from harness.validate import actions as validate
from harness.validate.route import decide_route
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing, checked
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.validate.conftest import (
    accept_rule,
    issue,
    journeys_pass,
    run_once,
    serve,
    set_rules,
)
from tests.validate.test_routing import evidence

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

TITLE = "Test that the page says Notes"
END = "\n\nif __name__"
# the implementer keeps both sides of a conflict in the test file (a blank line between
# methods), then adds its test once
RESOLVE = (
    "import pathlib, re; p = pathlib.Path('test_app.py'); "
    "t = re.sub(r'^(<<<<<<<|=======|>>>>>>>).*\\n', '', p.read_text(), flags=re.M); "
    "t = re.sub(r'\\n+(    def )', r'\\n\\n\\1', t); "
    "new = '\\n    def test_heading(self):\\n        self.assertIn(chr(60), render([]))\\n'; "
    "p.write_text(t if 'def test_heading' in t else t.replace('\\n\\nif __name__', new + "
    "'\\n\\nif __name__'))"
)
RULES = [
    accept_rule(TITLE, "A test of what the page shows."),
    {
        "output": "finish",
        "match": TITLE,
        "turns": [
            [{"tool": "run_command", "input": {"command": f'python3 -c "{RESOLVE}"'}}],
            [{"tool": "finish", "input": {"summary": "A test of the heading."}}],
        ],
    },
]
# as many as ``max_rebases`` allows in a row, the rule set to it (each is a cycle: the last
# rebase the rule still allows is the one a miscount would refuse)
NEIGHBOURS = 2


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    yield from serve(tmp_path, monkeypatch, RULES)


@action("validate.check")
def _passed_unless_conflicted(
    ctx: StepContext, prepare: Prepared, baseline: Baseline
) -> CheckResult:
    """The real check of a candidate that does not merge with production (it finds the
    conflict, and keeps the verdict given before it); else the record that the checks passed."""
    _, conflicts = ctx.services.repo.merged_tree(baseline.production_sha, prepare.head)
    return validate.check(ctx, prepare, baseline) if conflicts else checked(ctx, prepare)


def _neighbours_first(mp: pytest.MonkeyPatch, repo: Path, landed: list[str]) -> None:
    """Before each of the change's validations after its first, until ``NEIGHBOURS`` landed, a
    neighbour lands a test at the same place of the same test file."""
    from harness.engine import actions as registry

    real = registry.actions().functions["validate.baseline"]
    assert real is not None
    validations: list[int] = []

    def baseline(ctx: Any, **records: Any) -> Any:
        validations.append(ctx.issue)
        if len(validations) > 1 and len(landed) < NEIGHBOURS:
            name = f"test_neighbour_{len(landed) + 1}"
            path = repo / "test_app.py"
            test = f"\n    def {name}(self):\n        self.assertTrue(render([]))\n"
            path.write_text(path.read_text().replace(END, test + END))
            git(repo, "commit", "-qam", f"{name}, landed first")
            landed.append(name)
        return real(ctx, **records)

    mp.setitem(registry.actions().functions, "validate.baseline", baseline)


def test_neighbours_landing_first_in_its_test_file_up_to_max_rebases_do_not_fail_a_change(
    tmp_path: Path, capsys, app, model, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = app
    # every change waits for a person; it may be rebased ``NEIGHBOURS`` times in a row
    set_rules(repo, auto_merge={"enabled": False}, max_rebases=NEIGHBOURS)
    use_actions(monkeypatch, *CHECKS_PASSED, _passed_unless_conflicted)
    journeys_pass(monkeypatch, checks=("health",))  # production's, in each of its cycles
    analysers_find_nothing(monkeypatch)  # the security gate's: no attempt adds a finding
    landed: list[str] = []
    _neighbours_first(monkeypatch, repo, landed)
    cli = ["--repo", str(repo)]
    args = [*cli, "issue", "new", "--title", TITLE, "--body", "Please."]
    assert run_cli(capsys, *args, "--author", "owner").code == 0
    run_once(capsys, repo)
    assert "factory:needs-review" in issue(capsys, repo, 1)["labels"]

    # approved; the validation it starts finds the first neighbour landed in the test file
    approved = run_cli(capsys, *cli, "approve", "1", "--by", "maintainer")
    assert approved.code == 1 and "route retry" in approved.out, approved
    for _ in range(NEIGHBOURS):
        run_once(capsys, repo)
    # rebased by the implementer: a new head, which the approval of the old one does not cover
    assert "factory:needs-review" in issue(capsys, repo, 1)["labels"]
    again = run_cli(capsys, *cli, "approve", "1", "--by", "maintainer")
    assert again.code == 0 and "landed as" in again.out, again

    labels = issue(capsys, repo, 1)["labels"]
    assert "factory:merged" in labels and "factory:failed" not in labels, labels
    store = Store.open(tmp_path / "state")
    decided = [v for _, v in reversed(store.artifacts(Validation, 1, limit=20))]
    routes = ["needs_review", *["retry"] * NEIGHBOURS, "needs_review", "merge"]
    assert [v.route for v in decided] == routes
    assert all("no fix attempt spent" in v.reason for v in decided[1 : NEIGHBOURS + 1])
    assert {v.fix_attempts for v in decided} == {0}
    assert "approved by maintainer" in decided[-1].reason
    [(_, landing)] = store.artifacts(Landing, 1, limit=5)
    assert (
        landing.tested_tree == landing.landed_tree == git(repo, "rev-parse", "main^{tree}").strip()
    )
    page = git(repo, "show", "main:test_app.py")
    assert "def test_heading" in page and "<<<<<<<" not in page
    assert all(f"def {name}" in page for name in landed) and len(landed) == NEIGHBOURS


def test_past_max_rebases_in_a_row_a_person_resolves_the_conflict() -> None:
    candidate, checked = evidence()
    moved = checked.model_copy(update={"conflict": "does not merge cleanly: test_app.py"})
    rules = Rules()
    again = decide_route(rules, candidate, moved, "success", rebases=rules.max_rebases - 1)
    assert again.route == "retry" and again.fix_attempts == 0
    stopped = decide_route(rules, candidate, moved, "success", rebases=rules.max_rebases)
    assert stopped.route == "needs_human" and "test_app.py" in stopped.reason
    assert "max_rebases" in stopped.rule
