"""Agent-written code never runs with the network: an implementer that edits a script the
set-up script runs (``setup.sh`` runs ``setup_hook.py``, which no set-up input names: the
file-access trace finds it), to reach a listener on the host's loopback, reaches nothing —
not in implement, not in validation, not in the post-merge smoke run. Such a change (which
also adds a manifest of a registry the allow-list does not hold), set up on a production
whose setup asks for hosts the egress proxy refuses, waits for a person with each reason
named, never merged unattended; approved, it merges (its setup ran again, offline, never
from a kept set-up, because it touched what set-up read)."""

from __future__ import annotations

import pytest

from harness.sandbox.bwrap import sandbox_available
from harness.store.db import Store
from tests.validate.scenarios import Guarded, phone_home

# ``guarded`` is a package fixture test_stories.py reads too: one worker runs the modules
# that read such fixtures
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
    pytest.mark.timeout(600),
    pytest.mark.together("validate-shared"),
]


def _refused(record: dict, port: int) -> set[tuple[str, int]]:
    """The hosts and ports of a setup's connections, all of which were refused."""
    assert all(not c["allowed"] and c["status"] == 403 for c in record["connections"]), record
    return {(c["host"], c["port"]) for c in record["connections"]}


@pytest.mark.slow
def test_a_setup_file_the_agent_edits_never_runs_with_the_network(guarded: Guarded) -> None:
    # "how many notes", whose implementer also rewrites the setup script (tests/validate/
    # scenarios.py): production's own is hostile, and reaches nothing either
    # it waited for a person: what setup runs changed, a registry not on the allow-list, and
    # setup on production asked for hosts the egress proxy refused (each listed)
    assert "factory:needs-review" in guarded.waiting["labels"], guarded.waiting["labels"]
    (said,) = [c["body"] for c in guarded.waiting["comments"] if "Validation:" in c["body"]]
    assert "a person decides what the gates cannot (setup_code: changes what setup runs: " in said
    # the script the set-up script runs: no set-up input by name, the trace's to see
    seen = "setup_code: the change touches what set-up was seen to read: package.json, setup_hook"
    assert f"{seen}.py;" in said, said
    assert "network_allow: would widen setup's network: package.json calls for " in said
    assert "registry.npmjs.org" in said and "169.254.169.254:80" in said, said
    assert "setup_network: the egress proxy refused setup: localhost:" in said
    labels = guarded.issue["labels"]
    assert "factory:merged" in labels, labels  # approved, validated, merged, smoke-tested
    assert guarded.got == []  # the agent's code never reached the host
    store = Store.open(guarded.state)
    validation = store.list_runs(limit=None, workflow="validate", issue=1)[0]
    steps = {s.step_id: s for s in store.steps(validation.id)}
    assert steps["check"].status == "succeeded" and steps["smoke"].status == "succeeded"
    # the agent's setup file did run — offline, on the change and on the merge, never from
    # production's set-up: what it read (the script, and an entry added to the folder Python
    # listed) changed
    assert steps["check"].outputs["setup_offline_for"] == ["package.json", "setup_hook.py"]
    assert steps["smoke"].outputs["setup_offline_for"] == ["package.json", "setup_hook.py"]
    # it is production now
    assert (guarded.repo / "setup_hook.py").read_text() == phone_home(guarded.port)
    store.close()


@pytest.mark.slow
def test_agent_code_already_on_production_reaches_only_the_proxy_which_refuses_it(
    guarded: Guarded,
) -> None:
    """Production's own setup script is hostile (merged earlier): doctor and a full run
    set it up through the egress proxy. Nothing reaches the listener on the host's loopback,
    not even by a name on network.allow that resolves there, and every attempt made through
    the proxy is in the evidence and in the reports."""
    port = guarded.port
    expected = {("localhost", port), ("169.254.169.254", 80), ("10.0.0.1", 443)}
    res = guarded.doctor
    assert res is not None and res.code == 0, res
    doctor = res.json()
    assert _refused(doctor["network"], port) == expected
    assert doctor["network"]["allow"] == [f"localhost:{port}"]
    (warning,) = doctor["warnings"]
    assert warning.startswith("setup asked for hosts the egress proxy refused: localhost:")
    res = guarded.doctor_text
    assert res is not None
    assert f"REFUSED  localhost:{port}  1 connection" in res.out, res.out
    assert "REFUSED  169.254.169.254:80" in res.out and "REFUSED  10.0.0.1:443" in res.out
    assert f"WARNING  {warning}" in res.out
    assert res.out.rstrip().endswith("all checks pass, with a WARNING above"), res.out
    assert guarded.got_after_doctor == []

    assert "factory:merged" in guarded.issue["labels"]
    assert guarded.got == []  # not in implement, health, validation or smoke either
    store = Store.open(guarded.state)
    # a tree whose setup asked for refused hosts is never kept for reuse: each setup of the
    # cycle (health, implement, the candidate, the smoke run) ran through the proxy, refused
    (health, *_) = store.list_runs(limit=None, workflow="health")
    checked = {s.step_id: s for s in store.steps(health.id)}["health"]
    assert _refused(checked.outputs["network"], port) == expected
    implement = store.list_runs(limit=None, workflow="implement", issue=1)[0]
    setup = {s.step_id: s for s in store.steps(implement.id)}["setup"]
    assert _refused(setup.outputs["network"], port) == expected
    validation = store.list_runs(limit=None, workflow="validate", issue=1)[0]
    steps = {s.step_id: s for s in store.steps(validation.id)}
    for step in ("check", "smoke"):
        assert _refused(steps[step].outputs["network"], port) == expected, step
    store.close()
    report = guarded.report
    assert report is not None and report.code == 0, report
    assert report.out.count(f"REFUSED  localhost:{port}  1 connection") >= 2, report.out
