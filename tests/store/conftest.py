"""One real ``factory demo`` for the store's scale tests: the rows they copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.store_rows import Source
from tests.conftest import SCRUBBED_ENV
from tests.store.demo_run import IDENTITY, demo_run


@pytest.fixture(scope="package")
def demo_rows(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """The demo's cycle (triage accepting and rejecting, implementations, merges, a refused
    validation, a health run, model calls: the worker's one ``factory demo``, which
    ``tests/test_demo.py`` and the dashboard's tests read too), copied as it ended, and in the
    copy a person rejecting the issue the pre-screen handed over: real runs, steps and audit
    events to copy."""
    from harness.decisions import decide
    from harness.services import open_services

    run = demo_run(tmp_path_factory)
    assert run.code == 0, run.err
    report = run.json()
    root = tmp_path_factory.mktemp("store-demo") / "demo"
    shutil.copytree(run.pristine, root, symlinks=True)
    repo = root / Path(report["repo"]).relative_to(run.root)
    state_dir = root / Path(report["state_dir"]).relative_to(run.root)
    with pytest.MonkeyPatch.context() as mp:
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        for name, value in IDENTITY.items():
            mp.setenv(name, value)
        services = open_services(repo, state_dir)
        held = [r["issue"] for r in report["triage"] if r.get("decision") == "needs_human"]
        assert held, report["triage"]
        for number in held:
            decide(services, "reject", number, "maintainer", "Not something we will do.")
        services.store.close()
    return Source(repo, state_dir)
