"""A backtest killed mid-case, then killed again right after a case finished, then run to the
end: the case under way resumes in its scratch state (its runs taken up, not started over),
a finished case is never rehearsed again, and the same backtest carries on throughout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.store.db import Store
from tests.backtest.conftest import KEY, TITLE_2, history, requests_text
from tests.cli_helpers import spawn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def backtest(repo: Path, env: dict[str, str], fault: str | None = None) -> tuple[int, str, str]:
    extra = {"FACTORY_FAULT_AT": fault} if fault else {}
    proc = spawn(repo, {**env, **extra}, "backtest", "--max-parallel", "1", "--json")
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def test_killed_twice_then_finished_without_redoing_a_case(tmp_path: Path, capsys, standin) -> None:
    repo = history(tmp_path, capsys)
    state = tmp_path / "state"
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": standin.url}

    code, _, err = backtest(repo, env, "implement.commit.done")  # inside the first case
    assert code == -9, err
    store = Store.open(state)
    record = store.latest_backtest()
    assert record is not None and record.status == "running"
    first, second = store.backtest_cases(record.id)
    assert first.case_id.startswith("2@") and first.status == "running"
    assert second.status == "pending"

    code, _, err = backtest(repo, env, "backtest.case.done")  # right after it finished
    assert code == -9, err
    first, second = store.backtest_cases(record.id)
    assert (first.status, second.status) == ("done", "pending")
    (scratch,) = (state / "backtest" / record.id).glob("2-*")
    runs = Store.open(scratch / "state").list_runs(workflow="implement")
    assert len(runs) == 1 and runs[0].status == "succeeded"  # resumed, not started over

    seen = len(standin.received)
    code, out, err = backtest(repo, env)
    assert code == 0, err
    result = json.loads(out)
    assert result["backtest"] == record.id
    assert [row["status"] for row in result["cases"]] == ["done", "done"]
    assert store.backtest_cases(record.id)[0].finished_at == first.finished_at
    assert not any(TITLE_2 in t for t in requests_text(standin)[seen:])  # never again
    assert store.latest_backtest() == store.backtest(record.id)
    assert store.backtest(record.id).status == "finished"  # type: ignore[union-attr]
