"""A notes app with changes the factory landed, for heal's tests.

Each change lands through the real validate workflow and merge queue (the merge, its
tested-tree check, the labels and comments are the factory's own); only the checks a
landing waits for — the journeys, the sealed validator, the smoke run — are stood in for by
records saying they passed, which is what they would have said of these changes (``land``,
``tests/checks_passed.py``).
What heal then finds and does runs for real."""

from __future__ import annotations

import itertools
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.artifacts import (
    Healed,
    IssueSpec,
    Landing,
    PrCandidate,
)
from harness.engine.context import Services
from harness.forge.base import Label
from harness.services import open_services
from harness.store.db import Store
from harness.validate.run import validate_issue
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing
from tests.cli_helpers import use_actions
from tests.factory_repo import git
from tests.validate.conftest import (  # noqa: F401 (the notes app, the model)
    app,
    journeys_pass,
    standin,
)


@pytest.fixture
def tests_app(
    app: tuple[Path, Path],  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Path]:
    """The notes app, its hold-out's journey standing in as passed in every check (health,
    probe, candidate, smoke: ``journeys_pass``), for a test about what its tests find: each
    would start an app and a browser beside the tests, and nothing the test reads comes of
    them (``test_present.py``'s page that goes bad, ``test_revert.py`` and ``test_loop.py``,
    about journeys, run theirs). The security gate's analysers stand in as having found
    nothing in a revert (``analysers_find_nothing``): nor are they what its tests find."""
    journeys_pass(monkeypatch)
    analysers_find_nothing(monkeypatch)
    return app


HEADING = "name: the heading\nsteps:\n  - goto: /\n  - expect_text: 'Notes'\n"


def land(
    repo: Path, state: Path, title: str, files: dict[str, str], checks: tuple = CHECKS_PASSED
) -> tuple[int, str]:
    """An issue whose change (``files``) the factory landed: (issue, merge commit); ``checks``:
    the validation's actions that stand in (those not among them run for real)."""
    services, number = proposed(repo, state, title, files)
    with pytest.MonkeyPatch.context() as mp:
        use_actions(mp, *checks)
        outcome = validate_issue(services, number)
    landed = outcome.artifact(Landing)
    assert landed is not None, outcome.reason
    return number, landed.merge_sha


def proposed(
    repo: Path, state: Path, title: str, files: dict[str, str], criteria: list[str] | None = None
) -> tuple[Services, int]:
    """An issue with the factory's pull request of ``files`` (the change), triaged with
    ``criteria`` and implemented as the store records it, ready for validation."""
    services = open_services(repo, state)
    forge, store = services.forge, services.store
    number = forge.create_issue(title, f"Please: {title}.", "owner").number
    branch = f"factory/issue-{number}-{title.split()[0].lower()}"
    base = git(repo, "rev-parse", "main").strip()
    (head,) = commits(repo, branch, base, [(title, files)])
    pr = forge.open_pr(number, branch, "main", title, f"Fixes issue {number}")
    forge.record_ci(head, "success")
    forge.add_labels(number, [Label.NEEDS_REVIEW])
    criteria = criteria or [f"{title}: done, and every note still listed."]
    spec = IssueSpec(
        number=number, title=title, body=f"Please: {title}.", decision="accept", kind="feature",
        acceptance_criteria=criteria,
    )  # fmt: skip
    triaged = store.create_run("triage", number, {"number": number}, {})  # as triage signed it
    seq = store.start_step(triaged.id, "decide", {"kind": "action", "action": "triage.apply"})
    store.finish_step(seq, "succeeded", spec.model_dump(mode="json"), artifact="IssueSpec")
    store.set_run_status(triaged.id, "succeeded")
    run = store.create_run("implement", number, {"number": number}, {})
    made = PrCandidate(
        pr=pr.number, branch=branch, head=head, base=base, gates=[], implement_run=run.id, spec=spec
    )
    seq = store.start_step(run.id, "pr", {"kind": "action", "action": "implement.open_pr"})
    store.finish_step(seq, "succeeded", made.model_dump(mode="json"), artifact="PrCandidate")
    store.set_run_status(run.id, "succeeded")
    return services, number


def commits(
    repo: Path, branch: str, parent: str, changes: list[tuple[str, dict[str, str]]]
) -> list[str]:
    """Commits on ``branch`` from ``parent``, one a change (message, files: path -> text),
    by the maintainer's identity, made by one ``git fast-import`` (not three git processes
    a commit, nor a switch of the working tree to the branch and back); their shas. The
    working tree is not touched: the caller brings it to a checked-out branch's new tip."""
    stream: list[bytes] = []
    when = f"{int(time.time())} +0000"
    for n, (message, files) in enumerate(changes, start=1):
        said = f"{message}\n".encode()
        stream += [f"commit refs/heads/{branch}\nmark :{n}\n".encode()]
        stream += [f"committer Test Maintainer <maintainer@example.invalid> {when}\n".encode()]
        stream += [f"data {len(said)}\n".encode(), said]
        stream += [f"from {parent}\n".encode()] if n == 1 else []
        for path, text in files.items():
            data = text.encode()
            stream += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
    with tempfile.TemporaryDirectory() as folder:
        marks = Path(folder) / "marks"
        command = ["git", "fast-import", "--quiet", f"--export-marks={marks}"]
        subprocess.run(command, cwd=repo, input=b"".join(stream), check=True, capture_output=True)
        shas = dict(line.split() for line in marks.read_text().splitlines())
    return [shas[f":{n}"] for n in range(1, len(changes) + 1)]


def three_merges(repo: Path, state: Path) -> list[tuple[int, str]]:
    """Three changes the factory landed; the second renames the page's heading."""
    page = (repo / "app.py").read_text()
    return [
        land(repo, state, "Add a help page", {"help.txt": "Write a note, press Add.\n"}),
        land(
            repo,
            state,
            "Call the notes Jottings",
            {"app.py": page.replace(">Notes<", ">Jottings<")},
        ),
        land(repo, state, "Add a changelog", {"CHANGES.txt": "- help page\n"}),
    ]


def seed_chain(state: Path, issues: list[int], sha: str) -> None:
    """Heal runs as three heals of one line of fixes left them: issue ``issues[k + 1]`` was
    filed by heal ``k + 1`` as the regression of issue ``issues[k]``'s merge."""
    store = Store.open(state)
    for chain, (culprit, regression) in enumerate(itertools.pairwise(issues), 1):
        run = store.create_run("heal", None, {"sha": sha}, {})
        healed = Healed(outcome="reverted", sha=sha, reason="seeded", culprit_issue=culprit,
                        regression_issue=regression, chain=chain)  # fmt: skip
        seq = store.start_step(run.id, "act", {"kind": "action", "action": "heal.act"})
        store.finish_step(seq, "succeeded", healed.model_dump(mode="json"), artifact="Healed")
        store.set_run_status(run.id, "succeeded")
    store.close()
