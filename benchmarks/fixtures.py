"""Generated repositories and a stand-in model for the benchmarks (loopback only)."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from harness.demo import generate
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.model.scripted import ScriptedModel, load_script
from harness.paths import workflows_dir
from harness.store.db import Store
from tests.standins.anthropic_standin import AnthropicStandIn

KEY = "sk-ant-benchmark-not-a-real-key-000"

# one planner turn, two implementer turns, one review: 4 model calls per issue
FAST_RULES: list[dict[str, Any]] = [
    {
        "output": "submit_triage",
        "turns": [
            [
                {
                    "tool": "submit_triage",
                    "input": {
                        "decision": "accept",
                        "priority": "p2",
                        "kind": "feature",
                        "rule": "mission.md",
                        "reason": "In scope.",
                        "acceptance_criteria": ["It works."],
                    },
                }
            ]
        ],
    },
    {
        "output": "submit_plan",
        "turns": [
            [
                {
                    "tool": "submit_plan",
                    "input": {"plan": "Add a module and its test.", "files": ["extra.py"]},
                }
            ]
        ],
    },
    {
        "output": "finish",
        "turns": [
            [{"tool": "write_file", "input": {"path": "extra.py", "content": "EXTRA = 1\n"}}],
            [{"tool": "finish", "input": {"summary": "Done."}}],
        ],
    },
    {
        "output": "submit_review",
        "turns": [
            [
                {
                    "tool": "submit_review",
                    "input": {"verdict": "approve", "score": 0.95, "findings": []},
                }
            ]
        ],
    },
]


def write_script(path: Path, rules: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump(rules))
    return path


def standin(rules: list[dict[str, Any]], tmp: Path, **kw: Any) -> AnthropicStandIn:
    server = AnthropicStandIn(
        ScriptedModel(load_script(write_script(tmp / "script.yaml", rules))), **kw
    )
    os.environ["ANTHROPIC_API_KEY"] = KEY
    os.environ["ANTHROPIC_BASE_URL"] = server.url
    return server


# A test suite of fixed work (what a real one is: CPU, not a timer), about two seconds of one
# core here: the demo's own tests and this module, run by ``python3 -m unittest``.
WORK_TEST = """import hashlib
import unittest


class Work(unittest.TestCase):
    def test_a_fixed_amount_of_work(self):
        digest = b""
        for _ in range(6_000_000):
            digest = hashlib.sha256(digest).digest()
        self.assertEqual(len(digest), 32)
"""
REAL_TESTS = "python3 -m unittest -q"


# The parallel figure's model latencies, chosen before any run: each call's drawn from a
# log-normal of median 3 s and sigma 0.5, by a generator seeded with SEED, the issue and the
# call (so every repetition, and an issue alone or among sixteen, draws the same ones).
SEED = 20261126
MEDIAN_S, SIGMA = 3.0, 0.5
_ISSUE = re.compile(r"Feature number (\d+) for the bench")


def drawn_latency(body: dict[str, Any]) -> tuple[int, float]:
    """(the bench issue a request is about, its latency): drawn as ``SEED`` says."""
    text = json.dumps(body)
    found = _ISSUE.search(text)
    issue = int(found[1]) if found else -1
    tools = ",".join(sorted(t["name"] for t in body.get("tools", [])))
    draw = random.Random(f"{SEED}/{issue}/{tools}/{len(body['messages'])}")
    return issue, draw.lognormvariate(math.log(MEDIAN_S), SIGMA)


class _Drawn(AnthropicStandIn):
    """The stand-in, each answer after its own latency: a fixed one, or (``drawn``) one drawn
    per request (``drawn_latency``); what each issue waited in all is kept (``waited``)."""

    def __init__(self, responder: Any) -> None:
        super().__init__(responder)
        self._local, self.fixed, self.drawn = threading.local(), 0.0, False
        self.waited: dict[int, float] = {}

    @property
    def latency_s(self) -> float:  # read by the request's own thread, after ``answer``
        return float(getattr(self._local, "latency", self.fixed))

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        self.fixed = value

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self._local.latency = self.fixed
        if self.drawn:
            issue, self._local.latency = drawn_latency(body)
            self.waited[issue] = self.waited.get(issue, 0.0) + self._local.latency
        return super().answer(body)


def _serve(script: str, conn: Connection) -> None:
    server = _Drawn(ScriptedModel(load_script(Path(script))))
    with server:
        conn.send(server.url)
        while (latency := conn.recv()) is not None:  # until told to stop
            if latency == "waited":
                conn.send(dict(server.waited))
                continue
            server.drawn = latency == "drawn"
            server.waited = {}
            server.latency_s = 0.0 if server.drawn else float(latency)
            conn.send(latency)


class Elsewhere:
    """A stand-in running in a process of its own (``standin_elsewhere``)."""

    def __init__(self, url: str, conn: Connection) -> None:
        self.url, self._conn = url, conn

    def answer_after(self, latency_s: float | str) -> None:
        """Each answer from now on after ``latency_s`` seconds, or (``"drawn"``) after a
        latency drawn per request (``drawn_latency``)."""
        self._conn.send(latency_s)
        self._conn.recv()

    def waited(self) -> dict[int, float]:
        """The seconds each bench issue's answers waited since ``answer_after("drawn")``."""
        self._conn.send("waited")
        return dict(self._conn.recv())


@contextmanager
def standin_elsewhere(rules: list[dict[str, Any]], tmp: Path) -> Iterator[Elsewhere]:
    """The stand-in in a process of its own, as the real API is a service elsewhere: its own
    CPU (answering, signing, JSON) is not the harness's and takes no turn at the harness's
    interpreter lock. ``ANTHROPIC_BASE_URL`` points at it meanwhile."""
    script = write_script(tmp / "script-elsewhere.yaml", rules)
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    proc = spawn.Process(target=_serve, args=(str(script), theirs), daemon=True)
    proc.start()
    try:
        if not ours.poll(120):
            raise RuntimeError("the stand-in's process did not start")
        url = str(ours.recv())
        os.environ["ANTHROPIC_API_KEY"] = KEY
        os.environ["ANTHROPIC_BASE_URL"] = url
        yield Elsewhere(url, ours)
    finally:
        ours.send(None)
        proc.join(30)


def notes_repo(
    root: Path, issues: int, accepted: bool = False, test: str = "true", first: int = 0
) -> tuple[Path, Path]:
    """The demo's notes app wired to the stand-in, with ``issues`` filed (and accepted).
    ``test`` is its ``commands.test``: ``true`` where tests are not what is measured, else
    ``REAL_TESTS`` (the demo's tests and ``WORK_TEST``). Issue i is "Feature number
    ``first + i``"."""
    repo, _, _ = generate(root)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["provider"] = {"type": "anthropic", "max_retry_wait_s": 120}
    config["commands"]["test"] = test
    if test == REAL_TESTS:
        (repo / "test_work.py").write_text(WORK_TEST)
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    rules = (
        (repo / "factory_rules.md")
        .read_text()
        .replace("max_issues_per_author_per_day: 3", "max_issues_per_author_per_day: 1000")
    )
    rules = rules.replace("max_issues_per_run: 10", "max_issues_per_run: 1000")
    rules = rules.replace("per_day_usd: 10.0", "per_day_usd: 1000.0")
    (repo / "factory_rules.md").write_text(rules)
    GitRepo(repo).commit_all("benchmark wiring")
    state = root / "state"
    forge = LocalForge(Store.open(state), GitRepo(repo))
    forge.ensure_labels()
    for i in range(issues):
        number = forge.create_issue(
            f"Feature number {first + i} for the bench", f"Please add feature {i}.", "owner"
        ).number
        if accepted:
            forge.add_labels(number, ["factory:accepted"])
    return repo, state


def big_repo(root: Path, files: int = 5000) -> Path:
    repo = root / "big"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for i in range(files):
        folder = repo / f"pkg{i % 50:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"module_{i}.py").write_text(f"VALUE_{i} = {i}\n" * 5)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@x",
            "commit",
            "-q",
            "-m",
            "files",
        ],
        check=True,
    )
    return repo


def holdout_journeys() -> Path:
    return workflows_dir() / "demo" / "holdout"
