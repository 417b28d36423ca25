"""A passing suite is reused on the host the tests saw (``harness/validate/suite.py``): what
voids it is a change of the packages the set-up and test commands use, never another account's
``apt-get install`` of something they do not; a change that voids it is named. The tests run
for real (sandbox, the test command) and the reuse is looked up as a candidate's check looks it
up; the host's package list is a copy with a package added, then one the tests use upgraded."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.engine.context import StepContext
from harness.engine.workflow import Step
from harness.sandbox.bwrap import sandbox_available
from harness.services import open_services
from harness.validate import suite
from harness.validate.evidence import Checkout, _tests_on
from tests.factory_repo import make_factory_repo

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not suite.DPKG_STATUS.exists(), reason="not a Debian system"),
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
]
TEST = "python3 -c 'import sqlite3'"  # python3, and through it every package it needs
ANOTHER = "Package: cowsay-of-another-account\nStatus: install ok installed\nVersion: 1.0\n"


def _version_changed(status: str, package: str) -> str:
    stanza = re.search(rf"^Package: {re.escape(package)}\n(?:.+\n)*?Version: (.+)$", status, re.M)
    assert stanza is not None, package
    start, end = stanza.span(1)
    return status[:start] + stanza.group(1) + "+host.1" + status[end:]


def test_a_package_the_tests_do_not_use_leaves_a_pass_reused_one_they_use_voids_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_factory_repo(tmp_path / "repo", config={"commands": {"test": TEST}})
    services = open_services(repo, tmp_path / "state")
    status = tmp_path / "dpkg-status"
    shutil.copy(suite.DPKG_STATUS, status)
    monkeypatch.setattr(suite, "DPKG_STATUS", status)
    sha = services.repo.rev_parse("HEAD")
    run = services.store.create_run("validate", 1, {}, {})
    ctx = StepContext(services, run.id, "validate", Step(id="check", action="x"), 1, {}, {})
    seq = services.store.start_step(run.id, "check", {})
    tested = _tests_on(Checkout(ctx, repo, sha, sha, "candidate", tmp_path / "shots"), "candidate")
    assert tested.exit_code == 0, tested.output
    assert "python3-minimal" in tested.host and "libc6" in tested.host  # what python3 needs
    services.store.finish_step(seq, "succeeded", tested.model_dump(), artifact="Tested")

    again = suite.reused(ctx, sha, sha, ())
    assert again is not None and again.reused_from == run.id

    # another account installs a package the test command does not use
    status.write_text(status.read_text() + "\n" + ANOTHER)
    assert "cowsay-of-another-account" not in suite.host_seen(services.settings)
    again = suite.reused(ctx, sha, sha, ())
    assert again is not None and again.reused_from == run.id  # the pass stands

    # an upgrade of a package the tests use (python3's interpreter): the suite runs again
    status.write_text(_version_changed(status.read_text(), "python3.11-minimal"))
    assert suite.reused(ctx, sha, sha, ()) is None
    (voided,) = services.store.events(run_id=run.id, kind=suite.HOST_CHANGED)
    assert voided.data["run"] == run.id and voided.data["issue"] == 1
    (was, now) = voided.data["changed"]  # the package, as the pass saw it and as it is now
    assert was[0] == now[0] == "python3.11-minimal" and now[1] == was[1] + "+host.1", (was, now)
