"""The peer sanitiser suite (claude-code-action's test/sanitizer.test.ts) as golden cases
through our real inbound path, the pre-screen: no hidden channel reaches the model unflagged,
every benign text reaches it as written, and no credential reaches the model or a log.

The cases live in data/peer_sanitizer_cases.yaml (their fields are described there)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.artifacts import Screened
from harness.redact import redact
from harness.triage.prescreen import prescreen
from harness.triage.sanitize import sanitize
from tests.cli_helpers import run_cli
from tests.triage.conftest import make_repo
from tests.triage.test_inbound_golden import RULES, issue

DATA = Path(__file__).parent / "data" / "peer_sanitizer_cases.yaml"
COMMIT = "06d1721fb49ca83a4488d8d3e46ec6d1ae430e28"
# every input of the suite at COMMIT: the table may grow with the suite, never shrink
COUNTS = {"hidden": 56, "benign": 34, "secret": 24}
# what the peer passes on and our pre-screen holds by design (each case says why)
HELD_BY_DESIGN = {
    "stripInvisibleCharacters code point coverage: preserves U+061C arabic letter mark #1",
    "stripInvisibleCharacters code point coverage: preserves U+200E left-to-right mark #1",
    "stripInvisibleCharacters code point coverage: preserves U+1D173 musical symbol begin beam #1",
    "stripInvisibleCharacters code point coverage: preserves U+3164 hangul filler #1",
    "stripInvisibleCharacters code point coverage: preserves U+115F hangul choseong filler #1",
    "redactSecrets: should redact tokens preceded by ANSI color codes #1",
    "redactSecrets: should redact tokens preceded by ANSI color codes #2",
    "redactSecrets: should redact tokens preceded by ANSI color codes #3",
}


@dataclass(frozen=True)
class Case:
    name: str
    input: str
    intent: str
    source: dict[str, str]
    channel: str | None = None
    ours: str | None = None
    payload: str | None = None
    why: str | None = None
    secrets: tuple[str, ...] = ()
    shown: str | None = None


def load() -> list[Case]:
    rows: list[dict[str, Any]] = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return [Case(**{**row, "secrets": tuple(row.get("secrets", ()))}) for row in rows]


CASES = load()


def cases(test: Any) -> list[Any]:
    """The cases ``test`` keeps, as pytest parameters named after the peer's test."""
    return [pytest.param(c, id=c.name) for c in CASES if test(c)]


def screened(case: Case) -> Screened:
    return prescreen(issue(case.input), [], RULES, judged_today=0)


def test_the_table_holds_every_input_of_the_suite() -> None:
    assert Counter(c.intent for c in CASES) == COUNTS
    assert len(CASES) == sum(COUNTS.values()) == 114
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.source["commit"] for c in CASES} == {COMMIT}
    assert {c.name for c in CASES if c.ours == "held"} == HELD_BY_DESIGN
    assert all(c.why for c in CASES if c.ours)
    assert all(c.secrets and c.shown is not None for c in CASES if c.intent == "secret")
    assert all(c.channel for c in CASES if c.intent == "hidden" and c.ours != "removed")
    assert all(c.channel for c in CASES if c.ours == "held")


@pytest.mark.parametrize("case", cases(lambda c: c.intent == "hidden" and c.ours is None))
def test_hidden_channels_are_held_with_a_reason_naming_them(case: Case) -> None:
    screen = screened(case)
    assert screen.decision == "needs_human", screen
    assert case.channel and case.channel in screen.reason, screen.reason
    assert screen.hidden


@pytest.mark.parametrize("case", cases(lambda c: c.ours == "removed"))
def test_hidden_characters_that_carry_nothing_are_removed_from_what_the_model_reads(
    case: Case,
) -> None:
    screen = screened(case)
    assert screen.decision is None and screen.hidden == ()
    assert case.payload and case.payload not in screen.body
    assert screen.body == case.input.replace(case.payload, "").strip()


@pytest.mark.parametrize("case", cases(lambda c: c.intent == "benign" and c.ours is None))
def test_benign_text_reaches_the_model_as_written(case: Case) -> None:
    screen = screened(case)
    assert screen.decision is None, screen.reason
    assert screen.hidden == ()
    assert screen.body == case.input.strip()  # byte-equal (the ends' whitespace aside)


@pytest.mark.parametrize("case", cases(lambda c: c.ours == "held"))
def test_passed_on_by_the_peer_but_held_by_design(case: Case) -> None:
    screen = screened(case)
    assert screen.decision == "needs_human"
    assert case.channel and case.channel in screen.reason


@pytest.mark.parametrize("case", cases(lambda c: bool(c.secrets)))
def test_credentials_never_reach_the_model_or_a_log(case: Case) -> None:
    screen = screened(case)
    titled = prescreen(issue("A plain body.", title=case.input[:200]), [], RULES, 0)
    for secret in case.secrets:
        assert secret not in screen.body and secret not in titled.title
        assert secret not in redact(case.input)  # transcripts and logs
    if case.intent == "secret" and case.ours is None:  # a credential is no reason to hold
        assert screen.decision is None and screen.hidden == ()
    if case.intent == "secret":
        assert screen.body == case.shown


# worst cases of the patterns these cases added (the rest are in test_inbound_golden.py)
WORST = {
    "data-attribute-run": "data-",
    "attribute-in-tag": "<a alt=",
    "unquoted-attribute": "<a title=x ",
    "tag-open": "<x>",
    "control-reference": "&#0",
    "control-reference-zeros": "&#x0000",
    "letter-mark": "\u061c\u200e",
    "jwt-segments": "eyJa.",
    "jwt-run": "eyJ",
    "github-pat": "github_pat_",
    "github-token": "ghp_",
    "anthropic-key": "sk-ant-",
    "aws-key": "AKIA",
    "slack-token": "xoxb-1234567890-",
}


@pytest.mark.timeout(60)  # a quadratic scan of a megabyte takes hours: this would stop it
@pytest.mark.parametrize("unit", list(WORST.values()), ids=list(WORST))
def test_a_megabyte_of_each_new_worst_case_is_scanned_in_one_pass(unit: str) -> None:
    text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    assert len(sanitize(text, ()).text) <= len(text) * 2  # a placeholder may outgrow a key
    assert len(redact(text)) <= len(text) * 2


def test_a_filed_issue_with_credentials_keeps_them_from_the_model_and_every_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env: Any
) -> None:
    """Through the real triage workflow: one issue carrying every credential of the table."""
    secrets = sorted({s for c in CASES if c.intent == "secret" for s in c.secrets})
    body = "Dark mode, please. My setup:\n\n" + "\n".join(f"- `{s}`" for s in secrets)
    repo = make_repo(tmp_path, {"type": "anthropic", "record": str(tmp_path / "rec")})
    filed = ("issue", "new", "--title", "Dark mode", "--body", body, "--author", "alice")
    assert run_cli(capsys, "--repo", str(repo), *filed).code == 0
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    assert [row["decision"] for row in res.json()] == ["accept"]

    seen = [json.dumps(b) for _, b in anthropic_env.received]  # what the model read
    assert seen and all("[redacted GitHub token]" in s for s in seen)
    for run in run_cli(capsys, "--repo", str(repo), "runs", "--json").json():
        seen.append(run_cli(capsys, "--repo", str(repo), "report", run["id"], "--json").out)
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json").json()
    for comment in shown["comments"]:  # what the factory wrote, its signed spec block decoded
        seen.append(comment["body"])
        for word in comment["body"].split():
            if len(word) > 100:  # base64
                seen.append(base64.b64decode(word + "=" * (-len(word) % 4)).decode())
    for root in (tmp_path / "state" / "transcripts", tmp_path / "rec"):
        seen += [p.read_text() for p in root.rglob("*") if p.is_file()]
    assert len(seen) > 4
    leaked = [s for s in secrets if any(s in text for text in seen)]
    assert leaked == []
