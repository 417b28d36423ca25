"""One real ``factory demo`` for the store's scale tests: the rows they copy."""

from __future__ import annotations

import pytest

from benchmarks.store_rows import Source, demo_source
from tests.conftest import SCRUBBED_ENV

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Maintainer",
    "GIT_AUTHOR_EMAIL": "maintainer@example.invalid",
    "GIT_COMMITTER_NAME": "Test Maintainer",
    "GIT_COMMITTER_EMAIL": "maintainer@example.invalid",
}


@pytest.fixture(scope="package")
def demo_rows(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """The demo's cycle once (triage accepting and rejecting, implementations, merges, a
    refused validation, a health run, model calls), and a person rejecting the issue the
    pre-screen handed over: real runs, steps and audit events to copy."""
    with pytest.MonkeyPatch.context() as mp:
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        for name, value in IDENTITY.items():
            mp.setenv(name, value)
        return demo_source(tmp_path_factory.mktemp("store-demo"))
