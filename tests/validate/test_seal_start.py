"""A seal that never started is the environment, never a verdict: its interpreter cannot
import the harness (the interpreter behind the harness's virtualenv, without its packages,
as a stale environment has it), so the seal ends before it asks for its browser — the
validation is inconclusive, the run stopped and taken up again, the reason the last line the
seal wrote, no person told and no fix attempt spent. A seal that did ask for its browser and
then ended with the same words on its standard error (a hijacked one) is the validator's
failure as ever: a person is told. Through the real cycle (bubblewrap, the scripted model
over the SDK); the hold-out's journeys and the security gate's analysers stand in as passed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store.db import Store
from harness.validate import sealed
from tests.checks_passed import analysers_find_nothing
from tests.validate.conftest import file_issues, issue, journeys_pass, run_once

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

# the interpreter behind the virtualenv: the seal's view holds it, but not the harness
BARE = str(Path(sys.base_prefix) / "bin" / "python3")
MISSING = "No module named 'harness'"

# a seal that began its protocol (asked for its browser, and was served: the broker closed
# the request it could not use), then claims an import failed
HIJACKED = f"""
import json, socket, sys
asked = json.load(sys.stdin)
with socket.socket(socket.AF_UNIX) as door:
    door.connect(asked["browser_socket"])
    door.sendall(b"[]\\n")
    door.recv(1)
sys.stderr.write("ModuleNotFoundError: {MISSING}\\n")
sys.exit(1)
"""


def _validation(state: Path) -> tuple[object, list[object]]:
    store = Store.open(state)
    try:
        (run,) = store.list_runs(limit=None, workflow="validate", issue=1)
        return run, [s for s in store.steps(run.id) if s.step_id == "check"]
    finally:
        store.close()


def test_a_seal_that_never_started_is_inconclusive_and_one_that_began_is_not(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = app
    state = repo.parent / "state"
    bare = subprocess.run([BARE, "-I", "-c", "import harness"], capture_output=True, text=True)
    assert MISSING in bare.stderr, bare  # the environment this test breaks the seal with
    journeys_pass(monkeypatch)
    analysers_find_nothing(monkeypatch)
    monkeypatch.setattr(sealed, "SEAL_COMMAND", (BARE, *sealed.SEAL_COMMAND[1:]))
    file_issues(capsys, repo, [1])
    run_once(capsys, repo)
    run, checks = _validation(state)
    assert run.status == "stopped" and run.not_before is not None, (run.status, run.reason)
    (check,) = checks
    assert (check.status, check.error_kind) == ("interrupted", "inconclusive"), check
    said = "inconclusive, tried again later: the sealed validator did not start (exit 1; "
    assert said in str(check.error) and "make install" in str(check.error), check.error
    assert f"its output ends: {BARE}: " in str(check.error), check.error  # its own words
    assert MISSING in str(check.error), check.error
    assert MISSING in str(run.reason), run.reason
    first = issue(capsys, repo, 1)
    assert "factory:needs-human" not in first["labels"], first["labels"]
    assert not any("needs a maintainer" in c["body"] for c in first["comments"]), first
    asked = [json.dumps(body) for _, body in standin.received]
    assert not any("submit_verdict" in body for body in asked)  # no validator was asked

    # taken up again; its seal now asks for its browser, then claims the same failure
    monkeypatch.setattr(sealed, "SEAL_COMMAND", (sys.executable, "-I", "-c", HIJACKED))
    run_once(capsys, repo)
    run, checks = _validation(state)
    assert run.status == "failed", (run.status, run.reason)
    assert (checks[-1].status, checks[-1].error_kind) == ("failed", "model"), checks[-1]
    assert "the sealed validator crashed (exit 1)" in str(checks[-1].error), checks[-1].error
    again = issue(capsys, repo, 1)
    assert "factory:needs-human" in again["labels"], again["labels"]
