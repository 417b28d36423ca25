"""The analysers: well-kept tools (Bandit, detect-secrets, a project's ``commands.audit``),
data in ``workflows/analysers.yaml``, run in one sandboxed command, offline, over a folder's
files. A finding is known by its fingerprint (rule + path + normalised snippet, never a
line number), so it keeps its identity when code moves (docs/gates.md)."""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from harness.artifacts import AnalyserFinding
from harness.config.globs import matching
from harness.config.models import Strict
from harness.config.settings import Settings
from harness.paths import workflows_dir
from harness.sandbox.bwrap import interpreter
from harness.sandbox.limits import Limits
from harness.sandbox.policy import TREE, worktree_sandbox

LIMITS = Limits(timeout_s=300, output_bytes=20_000_000)


class Analyser(Strict):
    """One tool, as ``workflows/analysers.yaml`` describes it (the defaults read the
    harness's own shape, which ``commands.audit`` prints)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    files: list[str] = Field(default_factory=lambda: ["*"])
    command: str = Field(min_length=1)
    results: str = "results"
    rule: str = "rule"
    severity: str = "severity"
    path: str = "path"
    line: str = "line"
    message: str = "message"
    snippet: str | None = None


def shipped_data() -> dict[str, Any]:
    """``workflows/analysers.yaml``: the analysers, and the manifests a dependency diff reads."""
    return dict(yaml.safe_load((workflows_dir() / "analysers.yaml").read_text(encoding="utf-8")))


def load_analysers(settings: Settings) -> list[Analyser]:
    """The shipped analysers, and ``commands.audit`` when factory.yaml sets it."""
    found = [Analyser.model_validate(a) for a in shipped_data()["analysers"]]
    audit = settings.config.commands.audit
    return [*found, Analyser(name="audit", command=audit)] if audit else found


def fingerprinted(**fields: Any) -> AnalyserFinding:
    """A finding from ``AnalyserFinding``'s fields but its fingerprint, computed here: rule +
    path + the snippet, whose whitespace is collapsed."""
    snippet = " ".join(str(fields.get("snippet", "")).split())[:300]
    key = f"{fields['rule']}\0{fields['path']}\0{snippet}".encode()
    fields.update(snippet=snippet, fingerprint=hashlib.sha256(key).hexdigest()[:20])
    fields.update(severity=str(fields["severity"]).lower(), message=str(fields["message"])[:300])
    return AnalyserFinding(**fields)


def added(before: list[AnalyserFinding], after: list[AnalyserFinding]) -> list[AnalyserFinding]:
    """The findings of ``after`` that ``before`` does not have (by fingerprint)."""
    known = {f.fingerprint for f in before}
    return [f for f in after if f.fingerprint not in known]


@dataclass(frozen=True)
class Analysis:
    findings: list[AnalyserFinding]
    errors: list[str]  # an analyser that did not answer with JSON: why, in one line


def run_analysers(
    settings: Settings,
    root: Path,
    paths: list[str] | None = None,
    analysers: list[Analyser] | None = None,
) -> Analysis:
    """Every analyser whose ``files`` match one of ``paths`` (None: the whole tree under
    ``root``), in one sandboxed command at ``root`` (handed to the sandbox's uid)."""
    chosen = []
    for analyser in load_analysers(settings) if analysers is None else analysers:
        mine = [p for p in paths if matching(p, analyser.files)] if paths is not None else ["."]
        if mine:
            chosen.append((analyser, " ".join(shlex.quote(p) for p in mine)))
    if not chosen:
        return Analysis([], [])
    mark = f"@@analysers-{secrets.token_hex(8)}@@"
    python = shlex.quote(sys.executable)
    script = "; ".join(
        f"({a.command.replace('{python}', python).replace('{paths}', quoted)}) 2>/tmp/err;"
        f" echo; echo {mark}; tail -c 600 /tmp/err; echo; echo {mark}"
        for a, quoted in chosen
    )
    sandbox = worktree_sandbox(settings, root, LIMITS, readable=interpreter())
    parts = [*sandbox.run(script).output.split(f"\n{mark}\n"), *[""] * 2 * len(chosen)]
    found: list[AnalyserFinding] = []
    errors: list[str] = []
    for (analyser, _), text, err in zip(chosen, parts[0::2], parts[1::2], strict=False):
        try:
            entries = [e for e in values(json.loads(text), analyser.results) if isinstance(e, dict)]
        except ValueError:
            errors.append(f"{analyser.name} gave no JSON: {(err or text).strip()[-300:]}")
            continue
        found += [_read(analyser, root, entry) for entry in entries]
    return Analysis(found, errors)


def values(data: object, where: str) -> list[object]:
    """What lies at ``where`` in ``data``: keys joined by dots, ``*`` for every value of a
    mapping or item of a list; a list found at the end gives its items."""
    found = [data]
    for key in where.split(".") if where else []:
        step: list[object] = []
        for item in found:
            if key == "*":
                step += list(item.values()) if isinstance(item, dict) else []
                step += item if isinstance(item, list) else []
            elif isinstance(item, dict) and key in item:
                step.append(item[key])
        found = step
    return [x for item in found for x in (item if isinstance(item, list) else [item])]


def _read(analyser: Analyser, root: Path, entry: dict[str, Any]) -> AnalyserFinding:
    def get(key: str) -> str:
        return key[1:] if key.startswith("=") else str(entry.get(key, "") or "")

    path = get(analyser.path).removeprefix(f"{TREE}/").removeprefix("./")  # ruff's are absolute
    line = int(get(analyser.line) or 0)
    snippet = get(analyser.snippet) if analyser.snippet else ""
    if not analyser.snippet and line > 0 and (file := root / path).is_file():  # its line
        snippet = "".join(file.read_text("utf-8", "replace").splitlines()[line - 1 : line])
    fields = {k: get(getattr(analyser, k)) for k in ("rule", "severity", "message")}
    return fingerprinted(analyser=analyser.name, path=path, line=line, snippet=snippet, **fields)
