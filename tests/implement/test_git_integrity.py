"""Through ``factory implement``: a repository whose git configuration runs programs is
refused, and one whose configuration moves during the run stops it before git runs again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.git.test_integrity import plant_filter
from tests.implement.conftest import accepted_issue, make_app_repo
from tests.store_reads import pull_requests


def test_implement_stops_when_the_config_moves_mid_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: object, monkeypatch
) -> None:
    from harness.sandbox.bwrap import Sandbox

    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Add a greeting function")
    marker = tmp_path / "PWNED"
    original = Sandbox.run

    def escaped(self: Sandbox, *args: object, **kwargs: object) -> object:
        """A command that got out of the sandbox and rewrote the main repository's config."""
        result = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if not marker.with_suffix(".planted").exists():
            plant_filter(repo / ".git", marker)
            marker.with_suffix(".planted").touch()
        return result

    monkeypatch.setattr(Sandbox, "run", escaped)
    res = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert res.code == 1
    out = res.json()
    assert out["status"] == "failed"
    assert ".git/config changed during the run" in out["reason"]
    assert not marker.exists()
    assert pull_requests(Store.open(tmp_path / "state"), number) == []
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json").json()
    assert "factory:needs-human" in shown["labels"]  # a person looks at the repository
    report = run_cli(capsys, "--repo", str(repo), "report", out["run_id"])
    assert ".git/config changed during the run" in report.out
    # the next run is refused at its start, with one line and exit 2
    again = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert again.code == 2 and len(again.err.strip().splitlines()) == 1
    assert "filter.evil.clean" in again.err
    assert not marker.exists()


def test_a_filter_configured_before_the_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: object
) -> None:
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Add a greeting function")
    marker = tmp_path / "PWNED"
    plant_filter(repo / ".git", marker)
    res = run_cli(capsys, "--repo", str(repo), "implement", str(number))
    assert res.code == 2, res.err
    assert len(res.err.strip().splitlines()) == 1
    assert "filter.evil.clean" in res.err and "make git run a program" in res.err
    assert not marker.exists()
