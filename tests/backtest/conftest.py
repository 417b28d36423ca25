"""A repository whose history holds two fixed issues (code and tests each, ``Fixes #N``
commits), the local forge holding the issues, and the stand-in Messages API answering with
scripted agents: the first issue implemented as its fix did, the second wrongly."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.demo import generate
from harness.model.scripted import ScriptedModel, load_script
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn

KEY = "sk-ant-backtest-CANARY-5ee1d0c0ffee77"
# planted in the fixes' tests: no model request of the case they grade may hold them
CANARY_1 = "HIDDEN-TEST-CANARY-one-4c1f"
CANARY_2 = "HIDDEN-TEST-CANARY-two-9e0b"
TITLE_1 = "Show how many notes there are"
TITLE_2 = "Empty notes are silently accepted when they contain only tabs"
TRUST = "trust: {default: {start: review, earn_after: 1}}\n"

COUNT_CODE = (
    '        "<h1>Notes</h1>"\n',
    '        "<h1>Notes</h1>"\n        f\'<p id="count">{len(notes)} notes</p>\'\n',
)
COUNT_TEST = f"""
    def test_count(self):
        # {CANARY_1}
        self.assertIn("2 notes", render(["a", "b"]))
        self.assertIn("0 notes", render([]))
"""
BLANK_TEST = f"""
    def test_blank_notes_are_refused(self):
        # {CANARY_2}
        for blank in ("\\t\\t", "\\t\\n", " \\n "):
            with self.assertRaises(ValueError):
                add_note([], blank)
"""

# the second issue implemented wrongly: tabs refused, other blank characters not
WRONG = [
    {
        "output": "finish",
        "match": "only tabs",
        "turns": [
            [
                {
                    "tool": "edit_file",
                    "input": {
                        "path": "app.py",
                        "old_text": '    text = text.strip(" ")',
                        "new_text": '    text = text.strip(" \\t")',
                    },
                },
                {
                    "tool": "edit_file",
                    "input": {
                        "path": "test_app.py",
                        "old_text": "    def test_add_note(self):",
                        "new_text": "    def test_tabs_only_is_refused(self):\n"
                        "        with self.assertRaises(ValueError):\n"
                        '            add_note([], "\\t\\t")\n\n'
                        "    def test_add_note(self):",
                    },
                },
            ],
            [{"tool": "finish", "input": {"summary": "Notes of tabs are refused, with a test."}}],
        ],
    }
]


def commit_fix(repo: Path, code: tuple[str, str], test: str, message: str) -> str:
    app = repo / "app.py"
    app.write_text(app.read_text().replace(*code))
    tests = repo / "test_app.py"
    tests.write_text(tests.read_text().replace("\n\nif __name__", f"{test}\n\nif __name__"))
    git(repo, "commit", "-qam", message)
    return git(repo, "rev-parse", "HEAD").strip()


def history(
    tmp_path: Path, capsys, more: Sequence[tuple[str, str, str]] = (), journeys: bool = True
) -> Path:
    """The demo's notes app, its two issues filed, and the two fixes committed on main; with
    ``more`` (title, body, author), those issues filed too, and for each, before the two
    fixes and in that order, a commit that says it fixes it (adding a file). Without
    ``journeys``, the hold-out holds none: for a test whose cases end before validation or
    have its checks stand in as passed (``tests/checks_passed.py``), so that the fit of the
    hold-out, checked before a case's first model call, starts no app and no browser (what
    that check tells apart: ``test_environment.py``)."""
    repo, _, _ = generate(tmp_path)
    if not journeys:
        for journey in (tmp_path / "notes-holdout" / "journeys").glob("*.yaml"):
            journey.unlink()
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["provider"] = {"type": "anthropic", "max_retry_wait_s": 5}
    config["max_parallel"] = 2
    config["backtest"] = {"counts_for_trust": True}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    rules = repo / "factory_rules.md"  # every kind waits for a person until it earned trust
    rules.write_text("---\n" + TRUST + rules.read_text().removeprefix("---\n"))
    git(repo, "commit", "-qam", "wired to the API; changes earn trust")
    for title, body, author in (
        (TITLE_1, "Under the heading, show 'N notes'. With no notes: '0 notes'.", "owner"),
        (TITLE_2, "A note of only tab characters gives a blank bullet. Refuse it.", "alice"),
        *more,
    ):
        res = run_cli(
            capsys, "--repo", str(repo), "issue", "new", "--title", title, "--body", body,
            "--author", author,
        )  # fmt: skip
        assert res.code == 0, res.err
    for number, (title, _, _) in enumerate(more, start=3):
        (repo / f"issue_{number}.md").write_text(f"{title}\n")
        git(repo, "add", f"issue_{number}.md")
        git(repo, "commit", "-qm", f"{title}\n\nFixes #{number}")
    commit_fix(repo, COUNT_CODE, COUNT_TEST, f"{TITLE_1}\n\nFixes #1")
    commit_fix(
        repo, ('text.strip(" ")', "text.strip()"), BLANK_TEST, "Refuse blank notes (closes #2)"
    )
    return repo


def script(tmp_path: Path, extra: list[dict[str, Any]] | None = None) -> Path:
    from harness.paths import workflows_dir

    rules = yaml.safe_load((workflows_dir() / "demo" / "script.yaml").read_text())
    path = tmp_path / "backtest-script.yaml"
    path.write_text(yaml.safe_dump([*WRONG, *(extra or []), *rules]))
    return path


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(responder=ScriptedModel(load_script(script(tmp_path)))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def requests_text(server: AnthropicStandIn) -> list[str]:
    return [json.dumps(body) for _, body in server.received]
