"""Production is never red: what lands is exactly what was tested — production combined with
the change — and two changes that merge cleanly as text but break the tests together are
never both merged."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from harness.forge.base import factory_labels
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.forge.github_helpers import github_env, standin_for
from tests.validate.conftest import (
    Output,
    accept_rule,
    isolated_env,
    issue,
    journeys_pass,
    landed_in_order,
    landed_tested_trees,
    make_app,
    queued_together,
    role_of,
    run_once,
    serve,
    suite_alone,
    validators_pass,
)

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
        for run in store.list_runs(limit=None, workflow="validate", issue=number):
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
    runs = store.list_runs(limit=None, workflow="validate", issue=other)
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


# Two changes that break the tests together never both land: the merge queue's rule, the same
# whatever the forge. test_two_changes_that_break_the_tests_together_never_both_land_on_github
# plays it (on the GitHub stand-in) and checks everything `_one_landed_and_production_green`
# says, on the forge's production branch and on the local one; every other merge of this
# folder lands through the local forge.


@pytest.mark.slow
def test_two_changes_that_break_the_tests_together_never_both_land_on_github(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    """The same on the GitHub stand-in: PRs pushed over HTTP, merged through the API with the
    head SHA; GitHub's merge commit must carry exactly the tested tree. What refuses the
    second change is its suite on the candidate: the hold-out's journeys and the sealed
    validator stand in as passed."""
    repo, _ = app
    suite_alone(monkeypatch)
    analysers_find_nothing(monkeypatch)  # the security gate's: neither change adds a finding
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["forge"] = "github"
    config["github"] = {"repository": "acme/app", "write_interval_s": 0.0}
    config["validation"] = {"ci_poll_s": 0.2, "ci_wait_s": 2.0}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "on GitHub")
    queued_together(monkeypatch)
    with standin_for(repo, tmp_path) as hub:
        for name, (color, description) in factory_labels().items():
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
            for r in store.list_runs(limit=None, workflow="validate")
            for s in store.steps(r.id)
            if s.step_id == "merge" and s.status == "succeeded"
        ]
        (landed,) = checks
        tested = [
            s.outputs
            for r in store.list_runs(limit=None, workflow="validate")
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


# Production moves after validation, before the merge, by a maintainer's push: each time, the
# candidate is rebuilt on the new production and tested again. In ``conflicted``, the change
# first in the queue meets two such pushes in a row as it lands (the merge step takes two
# before it gives up); the change implemented again after the conflict meets one when it
# lands.
MOVES = ["docs/notes-history.md", "static/hello.txt"]
MOVE_AFTER_CONFLICT = "app.py"


@dataclass
class Moved:
    """One validation under which production moved, once per path of ``moves`` in turn."""

    repo: Path
    state: Path
    number: int
    moves: list[str]
    moved: list[str] = field(default_factory=list)  # production after each move
    run: str = ""  # the validation
    validator_runs: int = 0  # the sealed validator's runs in it
    labels: list[str] = field(default_factory=list)  # the issue's after the cycle


def _push(repo: Path, path: str) -> str:
    """A maintainer's commit on production touching ``path``: on the home page (``app.py``),
    a footer the validator would see; elsewhere, a new file."""
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
    return GitRepo(repo).rev_parse("main") or ""


def _moving_under(mp: pytest.MonkeyPatch, moved: Moved) -> None:
    """``validate.merge`` of ``moved.number``, after the next of its ``moves`` (if any)."""
    from harness.engine import actions as registry

    real_merge = registry.actions().functions["validate.merge"]
    assert real_merge is not None
    left = list(moved.moves)

    def merge(ctx, **records):
        if ctx.issue == moved.number and left:  # someone pushes while this change waits
            moved.moved.append(_push(moved.repo, left.pop(0)))
        return real_merge(ctx, **records)

    mp.setitem(registry.actions().functions, "validate.merge", merge)


def _validated(moved: Moved, received: list[dict]) -> None:
    """Its newest validation, and the sealed validator's runs among ``received``."""
    store = Store.open(moved.state)
    moved.run = store.list_runs(limit=None, workflow="validate", issue=moved.number)[0].id
    store.close()
    asked = f'"Check issue {moved.number} in the running app'
    moved.validator_runs = sum(
        role_of(b) == "validator" and len(b["messages"]) == 1 and asked in json.dumps(b)
        for b in received
    )


@dataclass
class Conflicted:
    """Two changes to the same line queued together, #1 first; it lands (production moving
    under it twice while it waits: ``landing``), the other no longer merges, is implemented
    again on the new production and lands (production moving under it once more while it
    waits: ``moved``). What is read of each check is its tests and the validator's verdict:
    the hold-out's journeys and the security gate's analysers (``analysers_find_nothing``) stand in
    as passed, and so does the sealed validator of the other's first validation (what is read
    of it is that its verdict is kept)."""

    repo: Path
    state: Path
    labels: dict[int, list[str]]  # after the first cycle
    other: int  # the one that did not land then
    validations: int = 0  # its validations then
    comments: list[str] = field(default_factory=list)  # its comments then
    production: str = ""  # production after the first cycle
    firsts: list[str] = field(default_factory=list)  # the second cycle's first requests
    merged: list[str] = field(default_factory=list)  # its labels after the second cycle
    moved: Moved | None = None
    landing: Moved | None = None  # the first in the queue, production moving as it lands


@pytest.fixture(scope="module")
def conflicted(tmp_path_factory: pytest.TempPathFactory) -> Conflicted:
    root = tmp_path_factory.mktemp("conflicted")
    state = root / "state"
    repo, _ = make_app(root)
    rules = [
        accept_rule(SUBTITLE, "A heading detail."),
        accept_rule(TAGLINE, "A heading detail."),
        _heading(SUBTITLE, "your notes"),
        _heading(TAGLINE, "short and kept"),
    ]
    landing = Moved(repo, state, 1, MOVES)
    with isolated_env(state) as mp, Output() as out:
        journeys_pass(mp)
        analysers_find_nothing(mp)  # the security gate's: neither change adds a finding
        with pytest.MonkeyPatch.context() as queued:
            queued_together(queued, order=[1, 2])
            # the one behind it no longer merges: what is read of its first validation is
            # that the verdict it was given is kept, and its sealed validator stands in with
            # a pass (those of the change first in the queue and of its next attempt are real)
            validators_pass(queued, issues=(2,), score=0.9)
            _moving_under(queued, landing)
            for server in serve(root, queued, rules):
                _file(out, repo, SUBTITLE)
                _file(out, repo, TAGLINE)
                run_once(out, repo, "--max-parallel", "3")
                _validated(landing, [b for _, b in server.received])
        labels = {n: issue(out, repo, n)["labels"] for n in (1, 2)}
        landing.labels = labels[1]
        merged = [n for n, names in labels.items() if "factory:merged" in names]
        other = 3 - merged[0] if len(merged) == 1 else 0
        seen = Conflicted(repo, state, labels, other, landing=landing)
        if not other:
            return seen  # the test says what went wrong
        seen.comments = [c["body"] for c in issue(out, repo, other)["comments"]]
        store = Store.open(state)
        seen.validations = len(store.list_runs(limit=None, workflow="validate", issue=other))
        store.close()
        seen.production = GitRepo(repo).rev_parse("main") or ""
        seen.moved = Moved(repo, state, other, [MOVE_AFTER_CONFLICT])
        _moving_under(mp, seen.moved)
        title = TAGLINE if other == 2 else SUBTITLE
        for server in serve(root, mp, [_resolved(repo, title)]):
            run_once(out, repo)  # implemented again, on the new production
            seen.firsts = [
                json.dumps(b)
                for _, b in server.received
                if role_of(b) in ("planner", "implementer") and len(b["messages"]) == 1
            ]
            _validated(seen.moved, [b for _, b in server.received])
        seen.merged = issue(out, repo, other)["labels"]
        seen.moved.labels = seen.merged
    landed_tested_trees(state)
    return seen


@pytest.mark.slow
def test_a_change_that_conflicts_with_production_is_implemented_again_on_it(
    conflicted: Conflicted,
) -> None:
    """Two changes edit the same line; one lands. The other, validated before production
    moved, no longer merges: its decision keeps the validator's verdict and score and calls
    it a conflict; the next attempt starts from it merged onto the new production, its
    requests name the conflicting file and show its diff and never speak of a hidden
    journey; its resolution lands as one commit on production."""
    seen = conflicted
    merged = [n for n, names in seen.labels.items() if "factory:merged" in names]
    assert len(merged) == 1, seen.labels
    other = seen.other
    assert seen.validations == 1
    store = Store.open(seen.state)
    first_validation = store.list_runs(limit=None, workflow="validate", issue=other)[
        -1
    ]  # the oldest
    checks = [s.outputs for s in store.steps(first_validation.id) if s.step_id == "check"]
    # validated once on the old production; on the new one it does not merge: no second
    # validator run, and the verdict it was given is kept with it
    first = checks[0]["validator"]
    assert first is not None and first["output"]["verdict"] == "pass"
    assert checks[0]["conflict"] is None
    assert checks[-1]["conflict"] and "app.py" in checks[-1]["conflict"]
    assert checks[-1]["validator"] == first
    steps = store.steps(first_validation.id)
    decided = [s.outputs for s in steps if s.step_id == "decide"][-1]
    assert decided["route"] == "retry" and "merge cleanly" in decided["reason"]
    score = first["output"]["score"]
    assert (decided["verdict"], decided["score"]) == ("pass", score)
    comment = next(c for c in seen.comments if "validate:retry" in c)
    assert "it no longer merges with production" in comment and "not good enough" not in comment
    assert f"validator score {score:.2f} (pass)" in comment

    # implemented again, on the new production (production moved once more while this
    # attempt waited to land: test_production_moving_... checks that part)
    production = seen.production
    runs = store.list_runs(limit=None, workflow="implement", issue=other)
    again = {s.step_id: s.outputs for s in store.steps(runs[0].id)}
    tree = again["worktree"]
    assert tree["base_sha"] == production and tree["conflicts"] == ["app.py"]
    git_repo = GitRepo(seen.repo)
    assert git_repo.rev_parse(f"{tree['start_sha']}^1") == production  # the merge, marked
    assert git_repo.rev_parse(f"{tree['start_sha']}^2") is None
    assert b"<<<<<<<" in (git_repo.read_blob(tree["start_sha"], "app.py") or b"")
    assert git_repo.rev_parse(f"{again['commit']['head']}^") == production  # one commit
    assert len(seen.firsts) == 2  # the planner's and the implementer's first requests
    for text in seen.firsts:
        assert "no longer merged with it" in text and "conflicting_files" in text
        assert "app.py" in text and "previous_diff" in text
        assert "hidden user journey" not in text and "score 0.00" not in text
        assert f"verdict pass, score {score:.2f}" in text
    assert "factory:merged" in seen.merged, seen.merged
    page = (git_repo.read_blob("main", "app.py") or b"").decode()
    assert "your notes" in page and "short and kept" in page and "<<<<<<<" not in page
    store.close()


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
    conflicted: Conflicted, path: str, kept: str
) -> None:
    """Production moves after validation, before the merge: the candidate is rebuilt on the new
    production and tested again. The validator's verdict is kept when the two candidates differ
    only in files the app cannot show (``validation.unseen_paths``), or when its recorded
    actions, done again on the new candidate without a model, show exactly what they showed
    it; it is asked again when they show something else."""
    found = conflicted.landing if path in MOVES else conflicted.moved
    assert found is not None, "no change was implemented again after a conflict"
    moving = found
    at = moving.moves.index(path)  # the check before this move; the next one is after it
    assert "factory:merged" in moving.labels, moving.labels
    store = Store.open(moving.state)
    checks = [s.outputs for s in store.steps(moving.run) if s.step_id == "check"]
    # validated; production moved, rebuilt on it and tested again, after each move
    assert len(checks) == 1 + len(moving.moves)
    first, second = checks[at], checks[at + 1]
    assert first["production_sha"] != second["production_sha"] == moving.moved[at]
    assert second["tests"]["exit_code"] == 0 and second["journeys_passed"]
    if kept == "unseen":  # the candidate (``sha``) it was given on, kept without a replay
        assert second["validator"]["kept"] == {
            "candidate": first["sha"],
            "changed": [path],
            "replayed": 0,
            "run": moving.run,  # the run that gave it: this one, on its earlier candidate
        }
        assert moving.validator_runs == 1
    elif kept == "replayed":
        replayed = len(first["validator"]["observed"])
        assert replayed >= 1  # the validator looked at the page before its verdict
        assert second["validator"]["kept"] == {
            "candidate": first["sha"],
            "changed": [path],
            "replayed": replayed,
            "run": moving.run,
        }
        assert second["validator"]["output"] == first["validator"]["output"]
        assert moving.validator_runs == 1
    else:
        assert second["validator"]["kept"] is None
        assert second["validator"]["asked"] == first["validator"]["asked"]
        assert moving.validator_runs == 2
    # what landed is the last candidate's tree, with the maintainer's change in it
    merged = [s.outputs for s in store.steps(moving.run) if s.step_id == "merge" and s.outputs]
    assert merged[-1]["landed_tree"] == checks[-1]["tree"]
    assert GitRepo(moving.repo).read_blob("main", path) is not None
    store.close()
