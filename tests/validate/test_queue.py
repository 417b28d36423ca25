"""Production is never red: what lands is exactly what was tested — production combined with
the change — and two changes that merge cleanly as text but break the tests together are
never both merged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.forge.base import LABELS
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.forge.github_helpers import github_env, standin_for
from tests.validate.conftest import accept_rule, file_issues, role_of, serve
from tests.validate.test_validate import issue, landed_in_order, queued_together, run_once

RENAME = "Rename render to render_page"
CALLER = "Add a footer helper"


def _edit(path: str, old: str, new: str) -> dict:
    return {"tool": "edit_file", "input": {"path": path, "old_text": old, "new_text": new}}


RULES = [
    accept_rule(RENAME, "An internal rename; the page is unchanged."),
    accept_rule(CALLER, "A small helper with its test."),
    {
        "output": "finish",
        "match": RENAME,
        "turns": [
            [
                _edit("app.py", "def render(notes):", "def render_page(notes):"),
                _edit(
                    "app.py",
                    "self._send(200, render(load_notes()))",
                    "self._send(200, render_page(load_notes()))",
                ),
                _edit(
                    "app.py",
                    "self._send(200, render(notes))",
                    "self._send(200, render_page(notes))",
                ),
                _edit(
                    "test_app.py",
                    "from app import add_note, render\n",
                    "from app import add_note, render_page as render\n",
                ),
            ],
            [{"tool": "finish", "input": {"summary": "render is now render_page."}}],
        ],
    },
    {
        "output": "finish",
        "match": CALLER,
        "turns": [
            [
                {
                    "tool": "write_file",
                    "input": {
                        "path": "footer.py",
                        "content": "from app import render\n\n\ndef page_with_footer(notes):\n"
                        "    return render(notes) + '<footer>notes</footer>'\n",
                    },
                },
                {
                    "tool": "write_file",
                    "input": {
                        "path": "test_footer.py",
                        "content": "import unittest\n\nfrom footer import page_with_footer\n\n\n"
                        "class T(unittest.TestCase):\n    def test_footer(self):\n"
                        "        self.assertIn('<footer>', page_with_footer([]))\n",
                    },
                },
            ],
            [{"tool": "finish", "input": {"summary": "A footer helper with a test."}}],
        ],
    },
]


def _file(capsys, repo: Path, title: str) -> None:
    args = ["--repo", str(repo), "issue", "new", "--title", title, "--body", "Please."]
    assert run_cli(capsys, *args, "--author", "owner").code == 0


def _one_landed_and_production_green(
    tmp_path: Path, repo: Path, labels: dict[int, list[str]], production: Path
) -> None:
    """One change landed, production's own tests pass on its tip, every merge landed exactly
    the tree its tests and journeys passed on, and the other change goes back to work."""
    merged = [n for n, names in labels.items() if "factory:merged" in names]
    assert len(merged) == 1, labels  # one landed; the other did not

    # production's own test suite passes on its tip
    work = tmp_path / "production"
    subprocess.run(["git", "clone", "-q", str(production), str(work)], check=True)
    tests = subprocess.run(
        ["python3", "-m", "unittest", "-q"], cwd=work, capture_output=True, text=True
    )
    assert tests.returncode == 0, tests.stderr

    # every merge landed exactly the tree its tests and journeys passed on
    store = Store.open(tmp_path / "state")
    repo_git = GitRepo(repo)
    for number in merged:
        for run in store.list_runs(workflow="validate", issue=number):
            steps = {s.step_id: s for s in store.steps(run.id) if s.status == "succeeded"}
            if "merge" not in steps:
                continue
            out = steps["merge"].outputs
            check = steps["check"].outputs
            assert out["landed_tree"] == out["tested_tree"] == check["tree"]
            assert check["tests"]["exit_code"] == 0 and check["journeys_passed"]
            assert repo_git.tree_of(out["merge_sha"]) == check["tree"]
            assert GitRepo(production).tree_of(out["merge_sha"]) == check["tree"]

    # the other one was judged on what would land (queued behind the landed change, its
    # candidate built on it), and goes back to work
    other = 3 - merged[0]
    runs = store.list_runs(workflow="validate", issue=other)
    decided = [s.outputs for r in runs for s in store.steps(r.id) if s.step_id == "decide"]
    last = decided[-1]
    assert last["route"] == "retry", last
    assert "tests_on_candidate failed" in last["reason"]
    checks = [
        s.outputs
        for r in runs
        for s in store.steps(r.id)
        if s.step_id == "check" and s.status == "succeeded"
    ]
    (landed,) = landed_in_order(store)
    built_on = checks[-1]["base"] or checks[-1]["production_sha"]
    assert repo_git.tree_of(built_on) == landed["landed_tree"], checks[-1]
    assert "factory:accepted" in labels[other]  # implemented again by the next cycle


@pytest.mark.slow
def test_two_changes_that_break_the_tests_together_never_both_land(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    repo, _ = app
    queued_together(monkeypatch)
    for _ in serve(tmp_path, monkeypatch, RULES):
        _file(capsys, repo, RENAME)
        _file(capsys, repo, CALLER)
        run_once(capsys, repo, "--max-parallel", "3")
        break
    labels = {n: issue(capsys, repo, n)["labels"] for n in (1, 2)}
    _one_landed_and_production_green(tmp_path, repo, labels, repo)


@pytest.mark.slow
def test_two_changes_that_break_the_tests_together_never_both_land_on_github(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    """The same on the GitHub stand-in: PRs pushed over HTTP, merged through the API with the
    head SHA; GitHub's merge commit must carry exactly the tested tree."""
    repo, _ = app
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["forge"] = "github"
    config["github"] = {"repository": "acme/app", "write_interval_s": 0.0}
    config["validation"] = {"ci_poll_s": 0.2, "ci_wait_s": 2.0}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "on GitHub")
    queued_together(monkeypatch)
    with standin_for(repo, tmp_path) as hub:
        for name, (color, description) in LABELS.items():
            hub.labels[name] = {"color": color, "description": description}
        hub.open_issue(RENAME, "Please.", "owner")
        hub.open_issue(CALLER, "Please.", "owner")
        for key, value in github_env(hub).items():
            monkeypatch.setenv(key, value)
        for _ in serve(tmp_path, monkeypatch, RULES):
            run_once(capsys, repo, "--max-parallel", "3")
            break
        labels = {n: list(hub.issues[n].labels) for n in (1, 2)}
        merged_pulls = [p for p in hub.pulls.values() if p.merged]
        assert len(merged_pulls) == 1, labels
        # GitHub's production branch and the local one agree, on the merge that was tested
        tip = GitRepo(hub.bare).rev_parse("refs/heads/main")
        assert tip == merged_pulls[0].merge_sha == GitRepo(repo).rev_parse("refs/heads/main")
        _one_landed_and_production_green(tmp_path, repo, labels, hub.bare)
        # the PR body and the issue comment name the commit that was tested and its tree
        store = Store.open(tmp_path / "state")
        checks = [
            s.outputs
            for r in store.list_runs(workflow="validate")
            for s in store.steps(r.id)
            if s.step_id == "merge" and s.status == "succeeded"
        ]
        (landed,) = checks
        tested = [
            s.outputs
            for r in store.list_runs(workflow="validate")
            for s in store.steps(r.id)
            if s.step_id == "check" and s.outputs.get("tree") == landed["tested_tree"]
        ][-1]
        body = hub.issues[merged_pulls[0].number].body  # a PR is an issue on GitHub
        assert "## Tested before landing" in body and tested["sha"][:12] in body
        assert body.count("## Tested before landing") == 1
        merged_issue = next(n for n in (1, 2) if "factory:merged" in labels[n])
        comments = [c["body"] for c in hub.comments_on(merged_issue)]
        assert any(landed["tested_tree"][:12] in c and "Merged" in c for c in comments)


SUBTITLE = "Add a subtitle under the heading"
TAGLINE = "Add a tagline under the heading"


def _heading(title: str, text: str) -> dict:
    return {
        "output": "finish",
        "match": title,
        "turns": [
            [
                _edit(
                    "app.py",
                    '        "<h1>Notes</h1>"\n',
                    f'        "<h1>Notes</h1><p>{text}</p>"\n',
                )
            ],
            [{"tool": "finish", "input": {"summary": f"Added {text}."}}],
        ],
    }


def _resolved(repo: Path, title: str) -> dict:
    """The implementer of ``title`` after its conflict: production's home page (the other
    change landed) with its own line added, every conflict marker gone."""
    text = {SUBTITLE: "your notes", TAGLINE: "short and kept"}[title]
    page = (GitRepo(repo).read_blob("main", "app.py") or b"").decode()
    landed = page.index("<h1>Notes</h1><p>") + len("<h1>Notes</h1>")
    content = page[:landed] + f"<p>{text}</p>" + page[landed:]
    return {
        "output": "finish",
        "match": title,
        "turns": [
            [{"tool": "write_file", "input": {"path": "app.py", "content": content}}],
            [{"tool": "finish", "input": {"summary": "Kept both lines under the heading."}}],
        ],
    }


@pytest.mark.slow
def test_a_change_that_conflicts_with_production_is_implemented_again_on_it(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    """Two changes edit the same line; one lands. The other, validated before production
    moved, no longer merges: its decision keeps the validator's verdict and score and calls
    it a conflict; the next attempt starts from it merged onto the new production, its
    requests name the conflicting file and show its diff and never speak of a hidden
    journey; its resolution lands as one commit on production."""
    repo, _ = app
    queued_together(monkeypatch)
    rules = [
        accept_rule(SUBTITLE, "A heading detail."),
        accept_rule(TAGLINE, "A heading detail."),
        _heading(SUBTITLE, "your notes"),
        _heading(TAGLINE, "short and kept"),
    ]
    for _ in serve(tmp_path, monkeypatch, rules):
        _file(capsys, repo, SUBTITLE)
        _file(capsys, repo, TAGLINE)
        run_once(capsys, repo, "--max-parallel", "3")
        break
    labels = {n: issue(capsys, repo, n)["labels"] for n in (1, 2)}
    merged = [n for n, names in labels.items() if "factory:merged" in names]
    assert len(merged) == 1, labels
    other = 3 - merged[0]
    store = Store.open(tmp_path / "state")
    (validation,) = store.list_runs(workflow="validate", issue=other)
    checks = [s.outputs for s in store.steps(validation.id) if s.step_id == "check"]
    # validated once on the old production; on the new one it does not merge: no second
    # validator run, and the verdict it was given is kept with it
    first = checks[0]["validator"]
    assert first is not None and first["output"]["verdict"] == "pass"
    assert checks[0]["conflict"] is None
    assert checks[-1]["conflict"] and "app.py" in checks[-1]["conflict"]
    assert checks[-1]["validator"] == first
    decided = [s.outputs for s in store.steps(validation.id) if s.step_id == "decide"][-1]
    assert decided["route"] == "retry" and "merge cleanly" in decided["reason"]
    score = first["output"]["score"]
    assert (decided["verdict"], decided["score"]) == ("pass", score)
    comment = next(
        c["body"] for c in issue(capsys, repo, other)["comments"] if "validate:retry" in c["body"]
    )
    assert "it no longer merges with production" in comment and "not good enough" not in comment
    assert f"validator score {score:.2f} (pass)" in comment

    production = GitRepo(repo).rev_parse("main")
    title = TAGLINE if other == 2 else SUBTITLE
    for server in serve(tmp_path, monkeypatch, [_resolved(repo, title)]):
        run_once(capsys, repo)  # implemented again, on the new production
        firsts = [
            json.dumps(b)
            for _, b in server.received
            if role_of(b) in ("planner", "implementer") and len(b["messages"]) == 1
        ]
        break
    runs = store.list_runs(workflow="implement", issue=other)
    again = {s.step_id: s.outputs for s in store.steps(runs[0].id)}
    tree = again["worktree"]
    assert tree["base_sha"] == production and tree["conflicts"] == ["app.py"]
    git_repo = GitRepo(repo)
    assert git_repo.rev_parse(f"{tree['start_sha']}^1") == production  # the merge, marked
    assert git_repo.rev_parse(f"{tree['start_sha']}^2") is None
    assert b"<<<<<<<" in (git_repo.read_blob(tree["start_sha"], "app.py") or b"")
    assert git_repo.rev_parse(f"{again['commit']['head']}^") == production  # one commit
    assert len(firsts) == 2  # the planner's and the implementer's first requests
    for text in firsts:
        assert "no longer merged with it" in text and "conflicting_files" in text
        assert "app.py" in text and "previous_diff" in text
        assert "hidden user journey" not in text and "score 0.00" not in text
        assert f"verdict pass, score {score:.2f}" in text
    data = issue(capsys, repo, other)
    assert "factory:merged" in data["labels"], data["labels"]
    page = (git_repo.read_blob("main", "app.py") or b"").decode()
    assert "your notes" in page and "short and kept" in page and "<<<<<<<" not in page


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("docs/notes-history.md", "unseen"),
        ("static/hello.txt", "replayed"),
        ("app.py", "asked again"),
    ],
    ids=["unseen-change", "visible-change-it-did-not-see", "visible-change-it-saw"],
)
def test_production_moving_rebuilds_the_candidate_and_asks_the_validator_only_if_it_could_see(
    tmp_path: Path, capsys, app, monkeypatch, path: str, kept: str
) -> None:
    """Production moves after validation, before the merge: the candidate is rebuilt on the new
    production and tested again. The validator's verdict is kept when the two candidates differ
    only in files the app cannot show (``validation.unseen_paths``), or when its recorded
    actions, done again on the new candidate without a model, show exactly what they showed
    it; it is asked again when they show something else."""
    from harness.engine import actions as registry

    repo, _ = app
    real_merge = registry.get_action("validate.merge")
    assert real_merge is not None
    moved: list[str] = []

    def merge(ctx):
        if not moved:  # someone pushes to production while this change waits to land
            target = repo / path
            if target.exists():  # the home page the validator looked at says more now
                text = target.read_text().replace(
                    "f'<ul id=\"notes\">{items}</ul>'\n",
                    'f\'<ul id="notes">{items}</ul>\'\n        "<footer>Kept by us</footer>"\n',
                )
                assert "Kept by us" in text
                target.write_text(text)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("A maintainer's own change.\n")
            git(repo, "add", path)
            git(repo, "commit", "-qm", "a maintainer's change")
            moved.append(GitRepo(repo).rev_parse("main") or "")
        return real_merge(ctx)

    monkeypatch.setitem(registry.actions().functions, "validate.merge", merge)
    for server in serve(tmp_path, monkeypatch):
        file_issues(capsys, repo, [1])
        run_once(capsys, repo)
        validator_runs = [
            b for _, b in server.received if role_of(b) == "validator" and len(b["messages"]) == 1
        ]
        break
    data = issue(capsys, repo, 1)
    assert "factory:merged" in data["labels"], data["labels"]
    store = Store.open(tmp_path / "state")
    (run,) = store.list_runs(workflow="validate", issue=1)
    checks = [s.outputs for s in store.steps(run.id) if s.step_id == "check"]
    assert len(checks) == 2  # validated, production moved, rebuilt on it and tested again
    first, second = checks
    assert first["production_sha"] != second["production_sha"] == moved[0]
    assert second["tests"]["exit_code"] == 0 and second["journeys_passed"]
    if kept == "unseen":  # the candidate (``sha``) it was given on, kept without a replay
        assert second["validator"]["kept"] == {
            "candidate": first["sha"],
            "changed": [path],
            "replayed": 0,
        }
        assert len(validator_runs) == 1
    elif kept == "replayed":
        replayed = len(first["validator"]["observed"])
        assert replayed >= 1  # the validator looked at the page before its verdict
        assert second["validator"]["kept"] == {
            "candidate": first["sha"],
            "changed": [path],
            "replayed": replayed,
        }
        assert second["validator"]["output"] == first["validator"]["output"]
        assert len(validator_runs) == 1
    else:
        assert second["validator"]["kept"] is None
        assert second["validator"]["asked"] == first["validator"]["asked"]
        assert len(validator_runs) == 2
    # what landed is the second candidate's tree, with the maintainer's change in it
    merged = [s.outputs for s in store.steps(run.id) if s.step_id == "merge" and s.outputs]
    assert merged[-1]["landed_tree"] == second["tree"]
    assert GitRepo(repo).read_blob("main", path) is not None
