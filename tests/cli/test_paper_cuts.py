"""What a newcomer met every day: ``status`` reads outcomes, ``retry`` needs no model key,
``runs`` keeps an outcome and a run id whole at 80 columns, a misspelt key is named with the
one meant, ``lessons`` with none says so, Ctrl-C does not read like the kill switch, a
refusal's reason is said once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo


@pytest.fixture
def triaged(tmp_path: Path, capsys) -> Path:
    """One issue, triaged by the honest fallback answers: it needs information."""
    repo = make_factory_repo(tmp_path / "repo")
    assert run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", "Dark mode").code == 0
    assert run_cli(capsys, "--repo", str(repo), "triage").code in (0, 1)
    return repo


def test_status_counts_outcomes_not_statuses(triaged: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(triaged), "status")
    line = next(x for x in res.out.splitlines() if x.startswith("runs:"))
    assert "needs_info 1" in line and "succeeded" not in line, line
    data = run_cli(capsys, "--repo", str(triaged), "status", "--json").json()
    assert data["runs"] == {"succeeded": 1} and data["outcomes"] == {"needs_info": 1}


def test_retry_calls_no_model_and_needs_no_key(
    triaged: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    config = yaml.safe_load((triaged / "factory.yaml").read_text())
    config["provider"] = {"type": "anthropic"}
    (triaged / "factory.yaml").write_text(yaml.safe_dump(config))
    from tests.factory_repo import git

    git(triaged, "commit", "-qam", "a real model")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    run_cli(capsys, "--repo", str(triaged), "issue", "label", "1", "factory:needs-human")
    res = run_cli(capsys, "--repo", str(triaged), "retry", "1")
    assert res.code == 0 and "queued" in res.out, res.err


def test_runs_keeps_an_outcome_whole_at_80_columns(
    triaged: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    out = run_cli(capsys, "--repo", str(triaged), "runs").out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert max(map(len, plain.splitlines())) <= 80
    (run,) = run_cli(capsys, "--repo", str(triaged), "runs", "--json").json()
    assert re.search(rf"{run['id']}\s+triage\s+1\s+needs_info\s", plain), plain


def test_ctrl_c_in_run_says_what_happens_and_an_aborted_run_reads_interrupted(
    triaged: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first Ctrl-C says at once that the runs stop after their step (and they do: no
    step starts); the second ends the runs this process drives where they are, recorded as
    stopped, which ``runs --json`` reads as the outcome ``interrupted``."""
    import os
    import signal

    from harness.caches import PROCESS
    from harness.cli.common import state_dir
    from harness.cli.work import ctrl_c
    from harness.engine.killswitch import INTERRUPTED, Driven
    from harness.store.db import Store

    def exit_(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_)
    store = Store.open(state_dir(triaged))
    running = store.create_run("implement", 1, {}, {})
    with ctrl_c(state_dir(triaged)):
        capsys.readouterr()
        os.kill(os.getpid(), signal.SIGINT)
        said = capsys.readouterr().err
        assert said.strip() == (
            "stopping after this step — Ctrl-C again to abort; run again to resume"
        )
        refused = run_cli(capsys, "--repo", str(triaged), "implement", "1")
        assert refused.code != 0 and "interrupted by Ctrl-C: this process" in refused.err
        assert "the factory is stopped" not in refused.err  # the kill switch's words
        PROCESS.part(Driven).runs.add(running.id)
        with pytest.raises(SystemExit) as ended:
            os.kill(os.getpid(), signal.SIGINT)
        PROCESS.part(Driven).runs.discard(running.id)
    assert ended.value.code == 130 and not INTERRUPTED.is_set()
    rows = run_cli(capsys, "--repo", str(triaged), "runs", "--json").json()
    (row,) = [r for r in rows if r["id"] == running.id]
    assert row["status"] == "stopped" and row["outcome"] == "interrupted"
    assert "run again to resume" in row["reason"]


def test_check_flags_the_templates_text_left_unedited(empty_repo: Path, capsys) -> None:
    assert run_cli(capsys, "--repo", str(empty_repo), "init").code == 0
    warnings = run_cli(capsys, "--repo", str(empty_repo), "check", "--json").json()["warnings"]
    flagged = [w for w in warnings if "still the template's text" in w]
    assert [w.split(":")[0] for w in flagged] == ["mission.md", "CLAUDE.md"], warnings
    mission = empty_repo / "mission.md"
    mission.write_text("# Notes\n\n## Purpose\nNotes.\n\n## Out of scope\n- Payments.\n")
    warnings = run_cli(capsys, "--repo", str(empty_repo), "check", "--json").json()["warnings"]
    assert not [w for w in warnings if w.startswith("mission.md: ") and "template" in w]


def test_a_backtest_with_no_cases_says_why(tmp_path: Path, capsys) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    res = run_cli(capsys, "--repo", str(repo), "backtest")
    assert res.code == 0, res.err
    assert "0 cases: the factory landed no change on the production branch" in res.out


def test_the_merged_comment_escapes_its_gate_table_once() -> None:
    """The "Merged" comment quotes the validation's comment, already made safe: a cell's
    ``|`` shows as ``\\|`` in the Markdown (one escape), never ``\\\\|`` (a literal
    backslash on GitHub)."""
    from harness.engine.templates import Templates
    from harness.forge.neutral import Markdown

    gate = {"name": "tests_on_candidate", "passed": True, "evidence": "a | b"}
    decision = Templates().render(
        "comments/validated.md.j2",
        route="merge",
        pr=7,
        verdict="pass",
        score=0.95,
        fix_attempts=0,
        reason="every gate held",
        rule="factory_rules.md — auto_merge.min_score",
        gates=[gate],
        journeys=[],
        summary="",
        conflict=False,
        run_id="r-1",
        criteria=[],
    )
    assert "a \\| b" in decision
    merged = Templates().render(
        "comments/merged.md.j2",
        merge_sha="a" * 40,
        tree="b" * 40,
        candidate="c" * 40,
        decision=Markdown(decision),
    )
    assert "a \\| b" in merged and "\\\\|" not in merged
    # given as plain text it would be escaped a second time: why validate.merge wraps it
    again = Templates().render(
        "comments/merged.md.j2", merge_sha="a", tree="b", candidate="c", decision=decision
    )
    assert "\\\\|" in again


def test_a_misspelt_key_is_named_with_the_one_meant(tmp_path: Path, capsys) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    journeys = tmp_path / "repo-holdout" / "journeys"
    journeys.mkdir(parents=True)
    (journeys / "add.yaml").write_text("name: add\nsteps:\n  - goto: /\n  - clik: {name: Add}\n")
    errors = run_cli(capsys, "--repo", str(repo), "check").err
    assert "journeys/add.yaml: steps[1].clik: unknown key (did you mean 'click'?)" in errors
    config = repo / "factory.yaml"
    config.write_text(config.read_text() + "comands: {test: 'true'}\n")
    errors = run_cli(capsys, "--repo", str(repo), "check").err
    assert "factory.yaml: comands: unknown key (did you mean 'commands'?)" in errors


def test_lessons_with_none_says_so(triaged: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(triaged), "lessons")
    assert res.code == 0 and res.out.startswith("no lessons yet"), res.out


def test_a_refusal_says_its_reason_once_and_names_the_failing_step_as_written() -> None:
    """``factory run``'s reason for a change waiting for a person: the route's reason already
    quotes the gate that held it, which is not said again; a failed journey's step is named
    as the maintainer wrote it (the maintainer's own table)."""
    from harness.artifacts import CheckResult, GateResult, Validation
    from harness.artifacts.browser import JourneyResult
    from harness.cycle import refusal_reason

    held = GateResult(name="security", passed=False, evidence="subprocess with shell=True")
    decided = Validation.model_validate(
        {
            "route": "needs_review",
            "reason": f"a person decides what the gates cannot (security: {held.evidence})",
            "score": 0.9,
            "verdict": "pass",
            "gates": [held.model_dump()],
            "fix_attempts": 0,
            "implement_run": "r-0123456789",
            "pr": 7,
        }
    )
    journey = JourneyResult("add a note", False, 3, 3, failed_as="click {name: Add}")
    checked = CheckResult.model_construct(journeys=[journey])
    said = refusal_reason(decided, checked)
    assert said.count("shell=True") == 1, said
    assert said.endswith("journey 'add a note' failed at step 3 (click {name: Add})"), said


def test_runs_says_how_many_older_runs_it_left_out(triaged: Path, capsys) -> None:
    """A sum over ``runs --json`` is a sum over what it printed: how many runs it left out is
    said on standard error (the JSON stays an array), and ``--all`` prints every one."""
    assert run_cli(capsys, "--repo", str(triaged), "issue", "new", "--title", "Sort").code == 0
    assert run_cli(capsys, "--repo", str(triaged), "triage").code in (0, 1)
    one = run_cli(capsys, "--repo", str(triaged), "runs", "--json", "--limit", "1")
    assert len(one.json()) == 1
    assert "1 older run(s) not shown: --limit N or --all shows them" in one.err, one.err
    every = run_cli(capsys, "--repo", str(triaged), "runs", "--json", "--all")
    assert len(every.json()) == 2 and every.err == "", every.err


def test_a_refusal_to_decide_is_spelt_right(triaged: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(triaged), "reject", "1", "--reason", "no")
    assert res.code == 2 and "issues can be rejected" in res.err, res.err
    res = run_cli(capsys, "--repo", str(triaged), "approve", "1")
    assert res.code == 2 and "issues can be approved" in res.err, res.err
