"""What ``factory report`` and ``factory runs`` say of a run is that run's own: the pull request
it opened or validated (not the issue's newest), no journey results another run computed (a
calibration kept from an earlier run), and the reason its route was given."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from harness.artifacts import Baseline, CheckResult, PrCandidate, Prepared, Validation
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import git, make_factory_repo


def _step(store: Store, run: str, step: str, record: object) -> None:
    seq = store.start_step(run, step, {})
    outputs = record.model_dump(mode="json")  # type: ignore[attr-defined]
    store.finish_step(seq, "succeeded", outputs, artifact=type(record).__name__)


def test_report_on_an_older_run_shows_its_own_pr_and_journeys(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    repo = make_factory_repo(tmp_path / "notes")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    base = git(repo, "rev-parse", "main").strip()
    heads = []
    for attempt in ("first", "second"):
        git(repo, "checkout", "-q", "-b", f"factory/issue-1-{attempt}", base)
        (repo / "app.py").write_text(f"print('{attempt} attempt')\n")
        git(repo, "commit", "-qam", attempt)
        heads.append(git(repo, "rev-parse", "HEAD").strip())
    git(repo, "checkout", "-q", "main")
    with closing(Store.open(tmp_path / "state")) as store:
        runs = []
        for pr, (attempt, head) in enumerate(zip(("first", "second"), heads, strict=True), 1):
            candidate = PrCandidate(
                pr=pr,
                branch=f"factory/issue-1-{attempt}",
                head=head,
                base=base,
                gates=[],
                implement_run=f"implement-{attempt}",
                spec={"number": 1, "decision": "accept"},
            )
            implemented = store.create_run("implement", 1, {}, {})
            _step(store, implemented.id, "pr", candidate)
            validated = store.create_run("validate", 1, {}, {})
            target = {"implement_run": candidate.implement_run, "pr": pr, "head": head}
            _step(store, validated.id, "prepare", Prepared(**target, candidate=candidate))
            runs.append(validated.id)
        # the first validation: its calibration kept from an earlier run, its candidate not built
        journey = {"name": "another run's journey", "passed": True, "steps_run": 1}
        kept = {"sha": base, "tree": base, "journeys": [journey], "journeys_passed": True}
        _step(store, runs[0], "baseline", Baseline(**kept, production_sha=base, cached=True))
        conflict = {**kept, "journeys": [], "head": heads[0], "conflict": "conflicts in app.py"}
        _step(store, runs[0], "check", CheckResult(**conflict, production_sha=base))

    res = run_cli(capsys, "--repo", str(repo), "report", runs[0])
    assert res.code == 0, res.err
    assert f"change: PR 1 (factory/issue-1-first): {base[:12]}...{heads[0][:12]}" in res.out
    assert "+print('first attempt')" in res.out and "second attempt" not in res.out
    assert "journeys:" not in res.out and "another run's journey" not in res.out, res.out
    data = run_cli(capsys, "--repo", str(repo), "report", runs[0], "--json").json()
    assert "first attempt" in data["diff"] and "second attempt" not in data["diff"]
    newest = run_cli(capsys, "--repo", str(repo), "report", runs[1]).out
    assert "change: PR 2 " in newest and "+print('second attempt')" in newest


def test_runs_gives_a_validation_that_waits_for_review_its_routes_reason(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    repo = make_factory_repo(tmp_path / "notes")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    why = "every gate passed; auto_merge is disabled"
    with closing(Store.open(tmp_path / "state")) as store:
        run = store.create_run("validate", 1, {}, {})
        routed = {"route": "needs_review", "reason": why, "score": 0.95, "verdict": "pass"}
        decided = Validation(**routed, gates=[], fix_attempts=0, implement_run="i", pr=1)
        _step(store, run.id, "decide", decided)
        store.set_run_status(run.id, "succeeded")
    (row,) = run_cli(capsys, "--repo", str(repo), "runs", "--json").json()
    assert (row["outcome"], row["reason"]) == ("needs_review", why), row
