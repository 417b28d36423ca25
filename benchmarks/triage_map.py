"""What triage's view of the repository costs: the tokens its ``context`` step (the map of
the production commit and the sealed validator's browser tools) adds to each triage request,
measured on the requests the stand-in Messages API received from a batched triage with the
step and without it; and the map's size and making time on a larger repository (this one).

Tokens are counted as the stand-in counts a request's input (``estimate_tokens``: the JSON
of system, tools and messages, four characters a token), the rule the budget guard and the
stand-in's usage already use; no tokenizer of the real API is available offline. Every
request of a batch carries the same instructions, so after the first they are a cache read."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import yaml

from benchmarks import fixtures as fx
from benchmarks.figures import Figure, _tmp
from harness.git.repo import GitRepo
from harness.model.blocks import estimate_tokens
from harness.paths import workflows_dir
from harness.services import open_services
from harness.triage.queue import triage_all
from harness.triage.repomap import map_rules, repository_map

ISSUES = 6
GOAL_TOKENS = 2000  # what the map may add to each triage request


def _without_context(repo: Path) -> None:
    """An override of the triage workflow on production without the ``context`` step."""
    flow = yaml.safe_load((workflows_dir() / "triage.yaml").read_text())
    flow["steps"] = [s for s in flow["steps"] if s.get("id") != "context"]
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "triage.yaml").write_text(yaml.safe_dump(flow, sort_keys=False))
    GitRepo(repo).git("add", "-f", ".factory/workflows/triage.yaml")
    GitRepo(repo).git("commit", "-q", "-m", "triage without its context step")


def _request_tokens(with_map: bool) -> list[int]:
    """The input tokens of each triage request of one batched triage of ``ISSUES`` issues."""
    root = _tmp()
    with fx.standin(fx.FAST_RULES, root) as server:
        repo, state = fx.notes_repo(root, ISSUES, accepted=False)
        if not with_map:
            _without_context(repo)
        rows = triage_all(open_services(repo, state), batch_wait_s=60)
        assert len(rows) == ISSUES, rows[:2]
        ((_, body),) = server.received_batches
    parts = ("system", "tools", "messages")
    return [estimate_tokens({k: r["params"].get(k) for k in parts}) for r in body["requests"]]


def triage_map_figures() -> list[Figure]:
    with_map, without = _request_tokens(True), _request_tokens(False)
    added = statistics.median(with_map) - statistics.median(without)
    here = GitRepo(Path(__file__).resolve().parent.parent)
    commit = here.rev_parse("HEAD") or ""
    rules, _ = map_rules()
    started = time.perf_counter()
    text = repository_map(here, commit, rules)
    seconds = time.perf_counter() - started
    files = len(here.list_tree(commit))
    big = estimate_tokens(text)
    return [
        Figure(
            "triage context: tokens added per issue (the demo app)",
            f"{added:,.0f} tokens",
            f"≤ {GOAL_TOKENS:,}",
            GOAL_TOKENS / max(added, 1),
            f"median triage request {statistics.median(with_map):,.0f} tokens with the map and "
            f"the validator's tools, {statistics.median(without):,.0f} without; {ISSUES} "
            "issues in one batch, the same instructions in each (a cache read after the "
            "first); counted as the stand-in counts input (JSON characters / 4)",
        ),
        Figure(
            f"triage context: map of a {files:,}-file repository",
            f"{big:,} tokens",
            f"≤ {GOAL_TOKENS:,}",
            GOAL_TOKENS / max(big, 1),
            f"this repository at {commit[:12]}: {len(text):,} characters "
            f"(cap {rules.max_chars:,}), made in {seconds:.2f} s from git's objects",
        ),
    ]
