"""``factory audit`` on a repository with a planted shell command built from request data
and a route its README does not document: the analysers and the (scripted) auditor find
exactly those, filed with their evidence as ``factory:found`` issues that triage judges like
any other; the next audit files nothing again, whether the issue is open or closed; an
audit never spends beyond ``audit.max_usd``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.cli.common import state_dir
from harness.services import open_services
from tests.cli_helpers import run_cli
from tests.factory_repo import RULES, git, make_factory_repo, write_files

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


def planted(tmp_path: Path, rules: str = RULES) -> Path:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT))
    provider = {"type": "scripted", "script": str(script)}
    repo = make_factory_repo(tmp_path / "repo", provider=provider, rules=rules)
    write_files(repo, {"app.py": APP, "README.md": "# Notes\n\nServes `/`: the notes.\n"})
    git(repo, "commit", "-qam", "the app")
    return repo


def audit(capsys, repo: Path, code: int = 0) -> dict[str, Any]:
    res = run_cli(capsys, "--repo", str(repo), "audit", "--json")
    assert res.code == code, res.err
    found: dict[str, Any] = res.json()
    return found


def test_the_audit_files_what_it_found_once_and_triage_judges_it(tmp_path: Path, capsys) -> None:
    repo = planted(tmp_path)
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


def test_an_audit_stops_at_its_budget_and_files_nothing(tmp_path: Path, capsys) -> None:
    repo = planted(tmp_path, RULES.replace("---\n", "---\naudit: {max_usd: 0.01}\n", 1))
    stopped = audit(capsys, repo, code=1)
    assert stopped["status"] == "failed" and stopped["filed"] == []
    assert "audit.max_usd $0.01 would be exceeded" in stopped["reason"]
    services = open_services(repo, state_dir(repo))
    assert services.forge.list_issues(state="all") == []
    services.store.close()
