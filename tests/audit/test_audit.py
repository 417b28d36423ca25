"""``factory audit`` on a repository with a planted shell command built from request data
and a route its README does not document: the analysers and the (scripted) auditor find
exactly those, filed with their evidence as ``factory:found`` issues that triage judges like
any other; the next audit files nothing again, whether the issue is open or closed; an
audit never spends beyond ``audit.max_usd``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.cli.common import state_dir
from harness.forge.base import create_own_issue
from harness.services import open_services
from tests.cli_helpers import run_cli, spawn
from tests.conftest import SCRUBBED_ENV
from tests.factory_repo import RULES, git, make_factory_repo, write_files
from tests.lessons.test_limits import nothing_written, repo_with_a_lesson

APP = '''"""The notes app."""

import subprocess
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/export":
            name = parse_qs(url.query).get("name", ["notes"])[0]
            subprocess.run(f"tar czf exports/{name}.tgz notes", shell=True)
        self.send_response(200)
        self.end_headers()
'''
ROUTE = 'if url.path == "/export":'


def _answer(tool: str, match: str | None = None, **given: Any) -> dict[str, Any]:
    return {"output": tool, "match": match, "turns": [[{"tool": tool, "input": given}]]}


SCRIPT = [
    _answer(
        "submit_findings",
        findings=[
            {
                "rule": "undocumented-route",
                "path": "app.py",
                "line": 3,  # the line is found again from the snippet: 11
                "snippet": ROUTE,
                "severity": "medium",
                "message": "The app serves /export, which README.md does not mention.",
                "criterion": "README.md documents what /export serves.",
            },
            {
                "rule": "dead-code",
                "path": "app.py",
                "line": 5,
                "snippet": "def never_called():",  # not in the file: dropped
                "severity": "high",
                "message": "Invented.",
                "criterion": "None.",
            },
        ],
    ),
    _answer(
        "submit_triage",
        "B602",
        decision="accept",
        priority="p1",
        kind="bug",
        reason="A shell command built from request data.",
        acceptance_criteria=["Exporting a note named a;b still answers /export."],
    ),
    _answer(
        "submit_triage",
        "undocumented-route",
        decision="reject",
        priority="p3",
        kind="docs",
        rule="mission.md: Out of scope",
        reason="Documentation of internal routes is not part of the mission.",
        acceptance_criteria=[],
    ),
]


def planted(
    tmp_path: Path, rules: str = RULES, script: list[Any] = SCRIPT, files: dict[str, str] = {}
) -> Path:
    (tmp_path / "script.yaml").write_text(yaml.safe_dump(script))
    # beside the repository, found from it: a copy's (``looked_copy``) is its own
    provider = {"type": "scripted", "script": "../script.yaml"}
    repo = make_factory_repo(tmp_path / "repo", provider=provider, rules=rules)
    readme = "# Notes\n\nServes `/`: the notes.\n"
    write_files(repo, {"app.py": APP, "README.md": readme, **files})
    git(repo, "add", "-A")
    git(repo, "commit", "-qam", "the app")
    return repo


@pytest.fixture(scope="module")
def looked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The planted repository and its state after one look (``audit --dry-run``), made once
    for the module, in the environment every test has: the analysers' findings are kept per
    commit in the state, so an audit of a copy reads them instead of running the analysers
    again (what an audit of a copy files, and why, is still its own work)."""
    root = tmp_path_factory.mktemp("looked")
    with pytest.MonkeyPatch.context() as env:
        for name in SCRUBBED_ENV:
            env.delenv(name, raising=False)
        env.setenv("FACTORY_STATE_DIR", str(root / "state"))
        env.setenv("FACTORY_MARKER_KEY", "test-marker-key-0f3c9a")
        repo = planted(root)
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as ended:
            main(["--repo", str(repo), "audit", "--dry-run", "--json"])
            raise SystemExit(0)
        assert ended.value.code == 0
    yield repo


def looked_copy(looked: Path, tmp_path: Path, script: list[Any] = SCRIPT) -> Path:
    """A copy of the looked-at repository, its state this test's: the database copied whole
    by SQLite (a consistent copy), the folder on tmpfs its own to make; the model answering
    from ``script`` (beside it, as ``planted`` puts it)."""
    repo = tmp_path / "repo"
    shutil.copytree(looked, repo, symlinks=True)
    (tmp_path / "script.yaml").write_text(yaml.safe_dump(script))
    made = looked.parent / "state"
    state = tmp_path / "state"
    shutil.copytree(made, state, ignore=shutil.ignore_patterns("state.db*", "tmpfs*"))
    with contextlib.closing(sqlite3.connect(made / "state.db")) as db:
        with contextlib.closing(sqlite3.connect(state / "state.db")) as copy:
            db.backup(copy)
    return repo


def audit(capsys, repo: Path, code: int = 0, *more: str) -> dict[str, Any]:
    res = run_cli(capsys, "--repo", str(repo), "audit", "--json", *more)
    assert res.code == code, res.err
    found: dict[str, Any] = res.json()
    return found


def test_the_audit_files_what_it_found_once_and_triage_judges_it(
    looked: Path, tmp_path: Path, capsys
) -> None:
    repo = looked_copy(looked, tmp_path)
    first = audit(capsys, repo)
    filed = {row["rule"]: row for row in first["filed"]}
    assert set(filed) == {"B602", "undocumented-route"}, first
    assert (filed["B602"]["analyser"], filed["B602"]["path"]) == ("bandit", "app.py")
    assert filed["undocumented-route"]["line"] == 11
    assert first["errors"] == ["1 of the auditor's findings are not where they say"]
    services = open_services(repo, state_dir(repo))
    for row in first["filed"]:
        issue = services.forge.get_issue(row["issue"])
        assert issue.labels == ("factory:found",) and services.forge.is_own(issue.author)
        assert f"`app.py` line {row['line']}" in issue.body and row["fingerprint"] in issue.body
    assert "shell=True" in services.forge.get_issue(filed["B602"]["issue"]).body
    assert (
        "README.md documents" in services.forge.get_issue(filed["undocumented-route"]["issue"]).body
    )

    triaged = run_cli(capsys, "--repo", str(repo), "triage", "--json").json()
    decided = {row["issue"]: row["decision"] for row in triaged}
    assert decided == {
        filed["B602"]["issue"]: "accept",
        filed["undocumented-route"]["issue"]: "reject",
    }
    assert services.forge.get_issue(filed["undocumented-route"]["issue"]).state == "closed"

    again = audit(capsys, repo)  # one issue open, one closed: neither is filed again
    assert (again["filed"], again["seen"], again["known"]) == ([], 2, 2)
    assert len(services.forge.list_issues(state="all")) == 2
    services.store.close()


def test_what_the_audit_filed_before_file_once_is_not_filed_again(
    looked: Path, tmp_path: Path, capsys
) -> None:
    """An issue the audit filed when it knew its issues by the fingerprint line of their body
    alone (no signed key block: ``create_own_issue`` with that body) is one ``file_once``
    finds: the audit after the upgrade files neither finding again."""
    repo = looked_copy(looked, tmp_path)
    look = audit(capsys, repo, 0, "--dry-run")["would_file"]
    services = open_services(repo, state_dir(repo))
    for row in look:
        body = f"Found by the factory's audit.\n\nFingerprint: `{row['fingerprint']}` (once)."
        create_own_issue(services.forge, f"{row['rule']} in app.py", body)
    again = audit(capsys, repo)
    assert (again["filed"], again["seen"], again["known"]) == ([], 2, 2)
    assert len(services.forge.list_issues(state="all")) == 2
    services.store.close()


def test_an_outsider_who_files_a_findings_title_first_silences_nothing(
    looked: Path, tmp_path: Path, capsys
) -> None:
    """Anyone can run Bandit on public code: an outsider files the finding's title first, its
    fingerprint line copied into the body. The factory's own issue is filed all the same, is
    no duplicate at triage, and the next audit counts only the factory's own as filed."""
    repo = looked_copy(looked, tmp_path)
    (row,) = [r for r in audit(capsys, repo, 0, "--dry-run")["would_file"] if r["rule"] == "B602"]
    title = f"{row['rule']} in {row['path']}: {row['message'].splitlines()[0]}"[:120]
    body = f"Found it first.\n\nFingerprint: `{row['fingerprint']}`"
    new = ("issue", "new", "--title", title, "--body", body, "--author", "mallory", "--json")
    outsider = run_cli(capsys, "--repo", str(repo), *new).json()["number"]

    first = audit(capsys, repo)
    (own,) = [r["issue"] for r in first["filed"] if r["rule"] == "B602"]
    assert (first["known"], len(first["filed"])) == (0, 2) and own != outsider
    services = open_services(repo, state_dir(repo))
    assert services.forge.get_issue(own).title == title
    triaged = run_cli(capsys, "--repo", str(repo), "triage", "--json").json()
    decided = {r["issue"]: r["decision"] for r in triaged}
    assert decided[own] == "accept"  # never "a duplicate of the outsider's"
    said = [c.body for c in services.forge.list_comments(own)]
    assert not any("duplicates" in c for c in said), said
    again = audit(capsys, repo)
    assert (again["filed"], again["seen"], again["known"]) == ([], 2, 2)
    assert len(services.forge.list_issues(state="all")) == 3
    services.store.close()


def test_an_audit_stops_at_its_budget_and_files_nothing(tmp_path: Path, capsys) -> None:
    repo = planted(tmp_path, RULES.replace("---\n", "---\naudit: {max_usd: 0.01}\n", 1))
    stopped = audit(capsys, repo, code=1)
    assert stopped["status"] == "failed" and stopped["filed"] == []
    assert "audit.max_usd $0.01 would be exceeded" in stopped["reason"]
    services = open_services(repo, state_dir(repo))
    assert services.forge.list_issues(state="all") == []
    services.store.close()


def test_a_look_files_nothing(looked: Path, tmp_path: Path, capsys) -> None:
    """``factory audit --dry-run`` prints what a run would file, and files nothing (twice);
    the audit after it files just that."""
    repo = looked_copy(looked, tmp_path)
    for _ in range(2):
        look = audit(capsys, repo, 0, "--dry-run")
        assert look["filed"] == [] and {r["issue"] for r in look["would_file"]} == {None}
        assert {r["rule"] for r in look["would_file"]} == {"B602", "undocumented-route"}
    services = open_services(repo, state_dir(repo))
    assert services.forge.list_issues(state="all") == []
    text = run_cli(capsys, "--repo", str(repo), "audit", "--dry-run").out
    assert "would file: B602 in app.py:13 (bandit)" in text and "nothing filed" in text
    filed = audit(capsys, repo)
    assert [r["rule"] for r in filed["filed"]] == [r["rule"] for r in look["would_file"]]
    assert len(services.forge.list_issues(state="all")) == 2
    services.store.close()


WANDERS = _answer("submit_findings")  # its turns call no tool: it never submits
WANDERS["turns"] = [[{"tool": "list_files", "input": {"path": "."}}]]
OUT_OF_TREE = {**SCRIPT[0]["turns"][0][0]["input"]["findings"][0], "rule": "leak"}
OUT_OF_TREE |= {"path": "../../../etc/passwd", "snippet": "root:x:0:0:root:/root:/bin/bash"}


@pytest.mark.parametrize(
    ("auditor", "rules", "said"),
    [
        (WANDERS, {"B602"}, "the auditor failed: agent auditor used all 30 turns without"),
        (
            _answer(
                "submit_findings",
                findings=[OUT_OF_TREE, SCRIPT[0]["turns"][0][0]["input"]["findings"][0]],
            ),
            {"B602", "undocumented-route"},
            "1 of the auditor's findings are not where they say",
        ),
    ],
    ids=["exhausts its turns", "one path out of the tree"],
)
def test_an_auditor_that_fails_costs_its_own_findings_only(
    looked: Path, tmp_path: Path, capsys, auditor: dict[str, Any], rules: set[str], said: str
) -> None:
    """The planted repository as looked at (its analysers' findings kept for its commit),
    audited with this auditor."""
    repo = looked_copy(looked, tmp_path, [auditor])
    found = audit(capsys, repo)
    assert {row["rule"] for row in found["filed"]} == rules, found
    assert any(error.startswith(said) for error in found["errors"]), found["errors"]


SECRETS = [("config.py", 1), ("tests/test_login.py", 2)]  # a placeholder, a keyword in a test


def test_what_a_project_generates_or_pins_or_only_stands_in_for_a_secret_is_not_filed(
    tmp_path: Path, capsys
) -> None:
    """Migrations' revision ids, a lock file's hashes, a placeholder secret and a keyword in
    test code are not filed; a real key is, its issue showing its line with the key masked
    (neither the key nor its hash)."""
    key = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"  # Stripe-shaped, and not a real key
    files = {
        "migrations/versions/ae1027a6acf_notes.py": (
            '"""notes\n\nRevision ID: ae1027a6acf\n"""\n'
            'revision = "ae1027a6acf"\ndown_revision = "37f06a334dbf"\n'
        ),
        "db/revisions.py": 'head_revision = "37f06a334dbf"\n',  # not skipped: not a secret
        "pnpm-lock.yaml": (
            "packages:\n  /a@1.0.0:\n    resolution: {integrity: sha512-QWTKZyjpPEjISv5W"
            "aRU9OFeRpok6YctnYmDr5pNlyT2bRjXh0JMhjY6hW+ALEwIH==}\n"
        ),
        "config.py": f'SECRET_KEY = "dev"\nPAYMENTS = {{"key": "{key}"}}\n',
        "tests/test_login.py": 'def test_login(client):\n    client.login(password="hunter22x")\n',
        "vendor/tool.py": "import os\n\n\ndef run(command):\n    os.system(command)\n",
    }
    rules = RULES.replace("---\n", "---\naudit: {max_issues: 10}\n", 1)
    repo = planted(tmp_path, rules, [], files)
    found = audit(capsys, repo)
    paths = {(row["path"], row["analyser"]) for row in found["filed"]}
    assert paths == {("app.py", "bandit"), ("config.py", "detect-secrets")}, found["filed"]
    services = open_services(repo, state_dir(repo))
    (body,) = [
        services.forge.get_issue(row["issue"]).body
        for row in found["filed"]
        if row["path"] == "config.py"  # one issue: two detectors name one secret
    ]
    assert f'PAYMENTS = {{"key": "{"*" * len(key)}"}}' in body, body
    digest = hashlib.sha1(key.encode()).hexdigest()
    assert key not in body and digest not in body + json.dumps(found)
    (analysed,) = [s for s in services.store.steps(found["run_id"]) if s.step_id == "analyse"]
    seen = {(f["path"], f["line"], f["analyser"]): f for f in analysed.outputs["findings"]}
    secrets = [seen[(path, line, "detect-secrets")] for path, line in SECRETS]
    assert [(f["rule"], f["severity"]) for f in secrets] == [("Secret Keyword", "low")] * 2
    assert not {p for p, *_ in seen} & {"db/revisions.py", "pnpm-lock.yaml"}, seen
    assert not any(p.startswith(("migrations/", "vendor/")) for p, *_ in seen), seen
    services.store.close()
    # factory.yaml's audit.skip replaces the list: read, the vendored call is found, and the
    # revision ids and the lock file's digests are still no secrets
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    (repo / "factory.yaml").write_text(yaml.safe_dump({**config, "audit": {"skip": []}}))
    git(repo, "commit", "-qam", "read everything")
    look = audit(capsys, repo, 0, "--dry-run")
    assert [(r["path"], r["rule"]) for r in look["would_file"]] == [("vendor/tool.py", "B605")]
    services = open_services(repo, state_dir(repo))
    (analysed,) = [s for s in services.store.steps(look["run_id"]) if s.step_id == "analyse"]
    secrets = {f["path"] for f in analysed.outputs["findings"] if f["analyser"] == "detect-secrets"}
    assert secrets == {"config.py", "tests/test_login.py"}, secrets
    services.store.close()


def test_the_scripted_fallback_answers_the_auditor_and_the_learner(tmp_path: Path, capsys) -> None:
    """Offline, with no script of its own: the auditor finds nothing (the analysers' findings
    are filed), the learner proposes no edit (no branch, no pull request)."""
    repo = repo_with_a_lesson(tmp_path, RULES, {})
    (tmp_path / "script.yaml").write_text("[]\n")
    write_files(repo, {"app.py": APP})
    git(repo, "commit", "-qam", "the app")
    found = audit(capsys, repo)
    assert [row["rule"] for row in found["filed"]] == ["B602"] and found["errors"] == []
    res = run_cli(capsys, "--repo", str(repo), "lessons", "propose", "--json")
    assert res.code == 0, res.err
    ((proposed,),) = [res.json()]
    assert proposed["status"] == "succeeded" and "pr" not in proposed, proposed
    nothing_written(repo)


@pytest.mark.parametrize("first", ["audit", "look"])
def test_a_look_never_files_whichever_run_it_finishes(
    looked: Path, tmp_path: Path, capsys, first: str
) -> None:
    """An audit killed before it filed and finished by a look files nothing; a look killed
    and finished by an audit files what it found."""
    repo = looked_copy(looked, tmp_path)
    killed_at = {**os.environ, "FACTORY_FAULT_AT": "audit.select.done"}
    dry = ["--dry-run"] if first == "look" else []
    killed = spawn(repo, killed_at, "audit", "--json", *dry)
    assert killed.wait(300) == -9, killed.communicate()
    finished = audit(capsys, repo, 0, *([] if dry else ["--dry-run"]))
    services = open_services(repo, state_dir(repo))
    filed = len(services.forge.list_issues(state="all"))
    shown = (len(finished["filed"]), len(finished.get("would_file", [])))
    assert (filed, *shown) == ((2, 2, 0) if dry else (0, 0, 2)), finished
    services.store.close()


def test_the_auditors_prompt_says_what_is_filed_and_what_never_is() -> None:
    """What the prompt tells the auditor is what the audit does (``ORDER``: the severities
    filed): a low finding it reports is dropped without an issue, and it is told so."""
    from harness.audit import ORDER
    from harness.engine.templates import Templates

    prompt = " ".join(Templates().render("prompts/audit.md.j2").split())
    assert "low" not in ORDER and {"high", "medium"} <= set(ORDER)
    assert "each new finding of severity high or medium" in prompt
    assert "never one of severity low" in prompt and "audit.max_issues" in prompt
