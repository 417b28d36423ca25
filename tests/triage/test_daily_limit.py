"""The per-author daily limit (``triage.max_issues_per_author_per_day``) is for people's
issues, not the maintainer's nor the factory's own: ``factory init`` trusts the repository's
owner; the factory's found issues never spend a quota; a deferral is judged again when the
rules change, or when a person re-queues it with ``factory retry``; ``factory run`` says how
many wait, and until when. Offline: the honest fallback script judges (needs info)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.forge.base import default_author
from tests.cli_helpers import Result, run_cli
from tests.factory_repo import RULES, git, make_factory_repo, write_files

LIMITED = RULES.replace("trusted_authors: [owner]", "trusted_authors: []")


def _file(capsys, repo: Path, title: str, *author: str) -> None:
    args = ("issue", "new", "--title", title, "--body", f"{title}, please.")
    assert run_cli(capsys, "--repo", str(repo), *args, *author).code == 0


def _triage(capsys, repo: Path) -> dict[int, str]:
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    return {row["issue"]: row["decision"] for row in res.json()}


def test_init_trusts_the_owner_whose_fourth_issue_of_the_day_is_triaged(
    tmp_path: Path, capsys
) -> None:
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "requirements.txt").write_text("flask\n")
    assert run_cli(capsys, "--repo", str(repo), "init", "--provider", "scripted").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "The factory's files")
    for n in range(1, 5):
        _file(capsys, repo, f"Request {n}")  # as the user running the factory
    decided = _triage(capsys, repo)
    assert len(decided) == 4 and "deferred" not in decided.values(), decided
    rules = (repo / "factory_rules.md").read_text()
    assert f'trusted_authors: ["{default_author()}"]' in rules


SHELLS = {  # four commands built from their input, a file each: four findings, four titles
    f"{name}.py": f"import os\n\n\ndef {name}(path):\n    os.system('{name} ' + path)\n"
    for name in ("export", "backup", "restore", "archive")
}


def test_the_factorys_found_issues_spend_no_quota(tmp_path: Path, capsys) -> None:
    rules = LIMITED.replace("---\n", "---\naudit: {max_issues: 10}\n", 1)
    repo = make_factory_repo(tmp_path / "repo", rules=rules)
    write_files(repo, SHELLS)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the app")
    audited = run_cli(capsys, "--repo", str(repo), "audit", "--json")
    assert audited.code == 0, audited.err
    filed = [row["issue"] for row in audited.json()["filed"]]
    assert len(filed) == 4, audited.out  # filed by the audit, as the factory's own
    _file(capsys, repo, "A person's request", "--author", "alice")
    decided = _triage(capsys, repo)
    assert sorted(decided) == [*filed, 5] and "deferred" not in decided.values(), decided


@pytest.fixture
def deferred(tmp_path: Path, capsys) -> Path:
    """alice's fourth issue of the day, deferred."""
    repo = make_factory_repo(tmp_path / "repo", rules=LIMITED)
    for n in range(1, 5):
        _file(capsys, repo, f"Request {n}", "--author", "alice")
    assert _triage(capsys, repo)[4] == "deferred"
    assert _triage(capsys, repo) == {}  # today, under the same rules: it waits
    return repo


def test_a_deferral_is_judged_again_once_the_rules_trust_its_author(deferred: Path, capsys) -> None:
    rules = deferred / "factory_rules.md"
    rules.write_text(rules.read_text().replace("trusted_authors: []", "trusted_authors: [alice]"))
    git(deferred, "commit", "-qam", "alice is trusted")
    decided = _triage(capsys, deferred)
    assert list(decided) == [4] and decided[4] != "deferred"


def test_retry_undefers(deferred: Path, capsys) -> None:
    said: Result = run_cli(capsys, "--repo", str(deferred), "retry", "4")
    assert said.code == 0, said.err
    assert "was deferred; queued for triage" in said.out
    decided = _triage(capsys, deferred)
    assert list(decided) == [4] and decided[4] != "deferred"


def test_run_says_how_many_wait_and_until_when(deferred: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(deferred), "run", "--once")
    assert "waiting: 1 issue(s) deferred by the author's daily limit until " in res.out
    assert "T00:00:00Z ('factory retry N' takes one now" in res.out
