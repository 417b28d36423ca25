"""A backtest killed mid-case, then killed again right after a case finished, then run to the
end: the case under way resumes in its scratch state (its runs taken up, not started over),
a finished case is never rehearsed again, and the same backtest carries on throughout.

Its two cases end before validation, which has nothing to do with resuming: the first (where
both kills fall) is implemented past its commit and then refused by the changed-lines gate;
the second, left for the last run, is an out-of-scope request triage rejects."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.model.scripted import ScriptedModel, load_script
from harness.store.db import Store
from tests.backtest.conftest import KEY, history, requests_text, script
from tests.cli_helpers import spawn
from tests.standins.anthropic_standin import AnthropicStandIn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

OUT_OF_SCOPE = ("Let people pay to unlock premium notes", "Add a Stripe checkout.", "bob")
OVERSIZED = ("Split the notes page into sections", "Group the notes by first letter.", "owner")
# the oversized change: accepted, planned, written (more lines than max_changed_lines) and
# reviewed; refused by the gates, after the commit
RULES = [
    {
        "output": "submit_triage",
        "match": "into sections",
        "turns": [
            [
                {
                    "tool": "submit_triage",
                    "input": {
                        "decision": "accept",
                        "priority": "p3",
                        "kind": "feature",
                        "rule": "mission.md: Capabilities",
                        "reason": "Showing notes is a listed capability.",
                        "acceptance_criteria": ["The notes are grouped by their first letter."],
                    },
                }
            ]
        ],
    },
    {
        "output": "finish",
        "match": "into sections",
        "turns": [
            [
                {
                    "tool": "write_file",
                    "input": {
                        "path": "sections.py",
                        "content": "".join(f"SECTION_{i} = {i}\n" for i in range(400)),
                    },
                }
            ],
            [{"tool": "finish", "input": {"summary": "The notes are grouped in sections."}}],
        ],
    },
]


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    responder = ScriptedModel(load_script(script(tmp_path, RULES)))
    with AnthropicStandIn(responder=responder) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def backtest(repo: Path, env: dict[str, str], fault: str | None = None) -> tuple[int, str, str]:
    extra = {"FACTORY_FAULT_AT": fault} if fault else {}
    cases = ("--issue", "4", "--issue", "3")  # newest fix first: #4's, then #3's
    proc = spawn(repo, {**env, **extra}, "backtest", *cases, "--max-parallel", "1", "--json")
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def test_killed_twice_then_finished_without_redoing_a_case(tmp_path: Path, capsys, standin) -> None:
    repo = history(tmp_path, capsys, more=[OUT_OF_SCOPE, OVERSIZED], journeys=False)
    state = tmp_path / "state"
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": standin.url}

    code, _, err = backtest(repo, env, "implement.commit.done")  # inside the first case
    assert code == -9, err
    store = Store.open(state)
    record = store.latest_backtest()
    assert record is not None and record.status == "running"
    first, second = store.backtest_cases(record.id)
    assert first.case_id.startswith("4@") and first.status == "running"
    assert second.case_id.startswith("3@") and second.status == "pending"

    code, _, err = backtest(repo, env, "backtest.case.done")  # right after it finished
    assert code == -9, err
    first, second = store.backtest_cases(record.id)
    assert (first.status, second.status) == ("done", "pending")
    (scratch,) = (state / "backtest" / record.id).glob("4-*")
    runs = Store.open(scratch / "state").list_runs(limit=None, workflow="implement")
    assert len(runs) == 1  # resumed, not started over: and on to its gates, after the kill
    assert runs[0].status == "failed" and "changed_lines" in (runs[0].reason or ""), runs[0]

    seen = len(standin.received)
    code, out, err = backtest(repo, env)
    assert code == 0, err
    result = json.loads(out)
    assert result["backtest"] == record.id
    assert [row["status"] for row in result["cases"]] == ["done", "done"]
    assert result["cases"][1]["triage"] == "reject"
    assert store.backtest_cases(record.id)[0].finished_at == first.finished_at
    asked = requests_text(standin)[seen:]
    assert any(OUT_OF_SCOPE[0] in t for t in asked)  # the case left was rehearsed
    assert not any(OVERSIZED[0] in t for t in asked)  # the finished one: never again
    assert store.latest_backtest() == store.backtest(record.id)
    assert store.backtest(record.id).status == "finished"  # type: ignore[union-attr]
