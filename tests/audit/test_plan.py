"""A plan files the audit's issues: the job that runs the auditor writes nothing to GitHub
and plans each new issue with its label; ``factory apply`` files it, labelled, once however
often the plan is applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.forge.apply import apply_plan
from harness.forge.base import Label
from harness.forge.journal import JournalForge, read_plan
from harness.git.repo import GitRepo
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo
from tests.forge.github_helpers import github_forge, standin_for


def test_a_planned_issue_is_filed_once_with_its_label(empty_repo: Path, tmp_path: Path) -> None:
    with standin_for(empty_repo, tmp_path) as hub:
        plan = tmp_path / "plan"
        reader = github_forge(hub, empty_repo, tmp_path / "state")
        planned = JournalForge(reader, GitRepo(empty_repo), plan)
        made = planned.create_issue("B602 in app.py", "Fingerprint: `0123`", planned.bot_login)
        planned.add_labels(made.number, [Label.FOUND])
        assert made.number < 0 and hub.issues == {}  # nothing written yet
        again = planned.list_issues("all")
        assert [(i.number, i.labels) for i in again] == [(made.number, (Label.FOUND,))]
        writer = github_forge(hub, empty_repo, tmp_path / "apply-state")
        first = apply_plan(writer, plan)
        assert [row["result"] for row in first] == ["done", "done"]
        assert apply_plan(writer, plan)[0]["issue"] == first[0]["issue"]  # the same issue
        (issue,) = writer.list_issues("all")
        assert (issue.title, issue.labels) == ("B602 in app.py", (Label.FOUND,))
        assert writer.is_own(issue.author)


@pytest.mark.parametrize(
    "command",
    [("audit",), ("lessons", "propose"), ("approve", "1"), ("reject", "1", "--reason", "no")],
)
def test_every_command_that_writes_takes_plan_mode(
    tmp_path: Path, capsys, command: tuple[str, ...]
) -> None:
    """``--plan`` reaches the forge of every command that writes to it (the nightly audit job
    holds a read-only token): on the local forge, which has no plan mode, each says so."""
    repo = make_factory_repo(tmp_path / "repo")
    res = run_cli(capsys, "--repo", str(repo), "--plan", str(tmp_path / "p"), *command)
    assert res.code == 2 and "--plan: plan mode is for forge: github" in res.err, res.err


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"seq": 1, "op": "add_labels", "issue": 1, "labels": ["x"]', "line 2: not JSON"),
        (
            '{"seq": 1, "op": "drop_table"}',
            "line 2: not a plan entry: .* no operation 'drop_table'",
        ),
        ('{"seq": 1, "op": "add_labels", "issue": "one"}', "line 2: not a plan entry"),
        ('{"seq": 1, "op": "comment", "issue": 1, "who": "me"}', "line 2: not a plan entry"),
        # a write without a field it is written with: never applied with a default in its place
        ('{"seq": 1, "op": "comment", "issue": 1, "body": "hi"}', "comment without key"),
        ('{"seq": 1, "op": "merge_pr", "pr": 1, "issue": 1}', "merge_pr without base, base_sha"),
    ],
)
def test_a_plan_line_that_is_no_entry_is_refused_before_anything_is_applied(
    tmp_path: Path, line: str, said: str
) -> None:
    """Every line is read as a ``PlanEntry`` before the first is applied: bad JSON, an
    operation the applier does not know, a field of the wrong type or one no entry has, an
    operation without a field it is written with."""
    (tmp_path / "plan.jsonl").write_text(f'{{"seq": 1, "op": "ensure_labels"}}\n{line}\n')
    with pytest.raises(ConfigError, match=said):
        read_plan(tmp_path)
    (tmp_path / "plan.jsonl").write_text('{"seq": 1, "op": "ensure_labels"}\n\n')
    assert [e.op for e in read_plan(tmp_path)] == ["ensure_labels"]
