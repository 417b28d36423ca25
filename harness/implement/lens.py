"""The security lens: the ``security`` gate, from real tools (docs/gates.md, "The security
lens"). Every analyser runs over the change's files as production has them and as the change
has them, in one sandboxed command; only findings production lacked count, and the manifests
it touches are diffed by package name."""

from __future__ import annotations

import json
import tomllib
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.analysers import (
    added,
    fingerprinted,
    run_analysers,
    shipped_data,
    values,
    workspace,
)
from harness.artifacts import AnalyserFinding, GateResult
from harness.config.globs import matching
from harness.config.models import Security
from harness.config.settings import Settings
from harness.git.repo import GitRepo

MAX_FILE = 1_000_000  # bytes of one file the analysers read


def security_gate(
    settings: Settings, repo: GitRepo, base: str, head: str, paths: list[str], rules: Security
) -> GateResult:
    """What the change from ``base`` to ``head`` adds, judged by ``rules``."""
    new, errors = _new_findings(settings, repo, base, head, paths)
    rank = {"low": 0, "medium": 1, "high": 2}  # an unknown word (critical, error): high
    serious = [f for f in new if rank.get(f.severity, 2) >= rank[rules.severity]]
    deps = dependency_changes(repo, base, head, paths)
    refused = [n for n in deps["added"] if not matching(n, rules.allow_dependencies)]
    said = [f"{f.rule} ({f.severity}) {f.path}:{f.line} {f.message}" for f in serious[:10]]
    said += [f"dependency added that factory_rules.md does not allow: {n}" for n in refused]
    said += [f"manifest no longer readable: {p}" for p in deps.pop("unreadable")] + errors
    tail = [f"dependencies {k}: {', '.join(v)}" for k, v in deps.items() if v]
    if others := len(new) - len(serious):
        tail.append(f"{others} new findings below {rules.severity}")
    quiet = [f"no new finding at or above {rules.severity}, no dependency to allow"]
    return GateResult(
        name="security", passed=not said, evidence="; ".join([*(said or quiet), *tail])
    )


def _new_findings(
    settings: Settings, repo: GitRepo, base: str, head: str, paths: list[str]
) -> tuple[list[AnalyserFinding], list[str]]:
    """The findings of the change's files on ``head`` that production's did not have, and
    each analyser that did not answer."""
    with workspace(settings) as where:
        given = []
        for side, ref in (("before", base), ("after", head)):
            for path, data in repo.read_blobs(ref, paths, MAX_FILE).items():
                target = where.path / side / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                given.append(f"{side}/{path}")
        analysis = run_analysers(settings, where, given)
    sides: dict[str, list[AnalyserFinding]] = {"before": [], "after": []}
    for f in analysis.findings:
        side, _, path = f.path.partition("/")
        moved = fingerprinted(**{**f.model_dump(exclude={"fingerprint"}), "path": path})
        sides.setdefault(side, []).append(moved)
    return added(sides["before"], sides["after"]), analysis.errors


def _requirement(line: str) -> Requirement | None:
    try:
        return Requirement(line.split(" #")[0].strip())
    except InvalidRequirement:
        return None  # a comment, an option (-r, -e, --hash), a URL


def packages(text: str, form: dict[str, Any]) -> dict[str, str]:
    """The packages (lowercase name -> version or specifier) of one manifest or lock file,
    read as ``form`` (an entry of ``manifests`` in ``workflows/analysers.yaml``) says."""
    read = form.get("read", "lines")
    data = tomllib.loads(text) if read == "toml" else json.loads(text) if read == "json" else text
    found: dict[str, str] = {}
    for at in form.get("at", [""]):
        for item in data.splitlines() if isinstance(data, str) else values(data, at):
            if isinstance(item, dict) and "name" in item:  # a locked package
                found[str(item["name"])] = str(item.get("version"))
            elif isinstance(item, dict):  # name -> version, or -> a table with a version
                pairs = ((k.rsplit("node_modules/", 1)[-1], v) for k, v in item.items() if k)
                found |= {k: str(v.get("version") if isinstance(v, dict) else v) for k, v in pairs}
            elif isinstance(item, str) and (req := _requirement(item)):
                found[canonicalize_name(req.name)] = str(req.specifier)
    return {n.lower(): v for n, v in found.items() if n.lower() != "python"}


def dependency_changes(
    repo: GitRepo, base: str, head: str, paths: list[str]
) -> dict[str, list[str]]:
    """The packages the manifests and lock files among ``paths`` add, remove and upgrade,
    by name; ``unreadable``: a manifest the change left in a form that cannot be read."""
    found: dict[str, list[str]] = {"added": [], "removed": [], "upgraded": [], "unreadable": []}
    for form in shipped_data()["manifests"]:
        for path in (p for p in paths if matching(p, form["files"])):
            sides = []
            for ref in (base, head):
                data = repo.read_blob(ref, path)
                try:
                    sides.append(packages(data.decode(), form) if data is not None else {})
                except (ValueError, UnicodeDecodeError):
                    sides.append({})
                    found["unreadable"] += [path] if ref == head else []
            old, new = sides
            found["added"] += [n for n in new if n not in old]
            found["removed"] += [n for n in old if n not in new]
            found["upgraded"] += [
                f"{n} {old[n]} -> {v}" for n, v in new.items() if old.get(n, v) != v
            ]
    return {k: sorted(set(v)) for k, v in found.items()}
