"""One run, three faces, one record (``harness/reports/report.py``): ``factory report`` (its
text and ``--json``), MCP's ``report`` (through the SDK's own client) and the dashboard's run
page show the same figures — the cost and tokens its model calls recorded (cached input
counted), its outcome, the sealed validator's verdict criterion by criterion with the
observation each rests on — and, of the implementation before it, every reviewer finding with
its severity, in ``factory report`` and ``factory issue show`` as on the dashboard."""

from __future__ import annotations

import html
import json
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.artifacts import (
    CheckResult,
    CriterionResult,
    Finding,
    GateResult,
    Review,
    Validation,
    ValidatorRun,
    Verdict,
)
from harness.artifacts.browser import Observation
from harness.cli.common import plain
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.model.base import CallRecord, Usage
from harness.reports.report import run_page
from harness.serve.app import Dashboard, Session
from harness.services import open_services
from harness.store.db import Store
from tests.cli.test_mcp import _in_process
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo

if TYPE_CHECKING:  # imported by the test that runs it (``_in_process``), not at collection
    from mcp import Client

CRITERION = "The home page greets the reader."
FINDING = "The greeting is built from the query string unescaped"
SHA = "a" * 40


def _step(store: Store, run: str, step: str, record: Any) -> None:
    seq = store.start_step(run, step, {})
    store.finish_step(
        seq, "succeeded", record.model_dump(mode="json"), artifact=type(record).__name__
    )


def _runs(store: Store) -> tuple[str, str]:
    """An implementation whose reviewer found something, and its validation, which waits for
    a person: two model calls of two models, one with cached input."""
    implement = store.create_run("implement", 1, {}, {})
    found = Finding(severity="medium", description=FINDING, file="app.py")
    _step(store, implement.id, "review", Review(verdict="approve", score=0.8, findings=[found]))
    store.set_run_status(implement.id, "succeeded")
    run = store.create_run("validate", 1, {}, {})
    seen = Observation("browser_navigate", {"url": "/"}, "d", number=1, status=200, excerpt="Hi")
    entry = CriterionResult(criterion="C1", result="pass", evidence="seen", observations=[1])
    verdict = Verdict(verdict="pass", score=0.95, criteria=[entry], summary="As asked.")
    judged = ValidatorRun(output=verdict, observed=[seen], criteria=[CRITERION])
    built = {"sha": SHA, "tree": SHA, "journeys": [], "journeys_passed": True, "head": SHA}
    _step(store, run.id, "check", CheckResult(**built, production_sha=SHA, validator=judged))
    gates = [GateResult(name="validator", passed=True, evidence="verdict pass, score 0.95")]
    routed = {"route": "needs_review", "reason": "auto_merge is off", "score": 0.95}
    decided = Validation(
        **routed, verdict="pass", gates=gates, fix_attempts=0, implement_run=implement.id, pr=1
    )
    _step(store, run.id, "decide", decided)
    store.record_call(
        run.id, "check", CallRecord("model-a", Usage(1000, 200, 300, 400), 0.0123, 2, "")
    )
    store.record_call(run.id, "decide", CallRecord("model-b", Usage(10, 20), 0.0004, 1, ""))
    store.set_run_status(run.id, "succeeded")
    return implement.id, run.id


def test_the_cli_mcp_and_the_dashboard_show_the_same_figures(tmp_path: Path, capsys) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    state = tmp_path / "state"  # FACTORY_STATE_DIR, as every test has it
    with closing(Store.open(state)) as store:
        LocalForge(store, GitRepo(repo)).create_issue("Greet", "Say hello.", "alice")
        implement, run = _runs(store)
    cli = ("--repo", str(repo))
    text = run_cli(capsys, *cli, "report", run).out
    data = run_cli(capsys, *cli, "report", run, "--json").json()

    async def ask(client: Client) -> Any:
        return (await client.call_tool("report", {"run_id": run})).structured_content

    answered = _in_process(repo, ask)
    services = open_services(repo, state)
    view = run_page(services, run)
    page = Dashboard(services, "t", "someone", lambda: services).page(
        "run.html", Session("s", "c"), view=view
    )
    shown = html.unescape(bytes(page.body).decode())
    record = json.loads(json.dumps(view.report, default=plain))

    # what was recorded: 1,000 + 300 + 400 + 10 input tokens, 220 output, $0.0127
    assert (record["cost_usd"], record["input_tokens"], record["output_tokens"]) == (
        0.0127,
        1710,
        220,
    )
    assert answered == data == record  # MCP and --json: the record itself
    assert text.splitlines()[0].endswith("— needs_review")
    assert "cost $0.0127, 1710 input / 220 output tokens" in text
    assert '<strong id="run-cost" data-cost="0.0127">$0.0127</strong>, tokens 1710/220' in shown
    assert 'id="outcome">needs_review<' in shown
    assert "  model-a: $0.0123 in 1 calls" in text and "  model-b: $0.0004 in 1 calls" in text
    assert (
        "<td>model-a</td><td>1700/200</td>" in shown and "<td>model-b</td><td>10/20</td>" in shown
    )
    # the validator's verdict, its criterion and the observation it rests on
    (row,) = record["validator"]
    assert (row["criterion"], row["result"], row["text"]) == ("C1", "pass", CRITERION)
    assert [(o["number"], o["status"]) for o in row["cited"]] == [(1, 200)]
    assert "validator: pass, score 0.95" in text and "Validator: pass (score 0.95)" in shown
    assert f"  C1 pass: {CRITERION} — seen" in text
    assert f"<td>C1: {CRITERION}</td><td>pass</td><td>seen</td>" in shown
    assert "    #1 browser_navigate {'url': '/'} HTTP 200: Hi" in text
    assert '#1 browser_navigate {"url": "/"} — HTTP 200<pre>Hi</pre>' in shown

    # the reviewer's findings, whole, with their severity: wherever a person decides
    said = f"[medium] {FINDING} (app.py)"
    reviewed = run_cli(capsys, *cli, "report", implement, "--json").json()["review"]
    assert reviewed["findings"] == [
        {"severity": "medium", "description": FINDING, "file": "app.py"}
    ]
    assert said in run_cli(capsys, *cli, "report", implement).out
    assert said in run_cli(capsys, *cli, "issue", "show", "1").out
    page = Dashboard(services, "t", "someone", lambda: services).page(
        "run.html",
        Session("s", "c"),
        view=run_page(services, implement),
    )
    assert f"[medium] {FINDING}" in html.unescape(bytes(page.body).decode())
