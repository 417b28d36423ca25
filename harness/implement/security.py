"""The security gate (``security``), from real tools (docs/gates.md, "The security gate").
Every analyser runs over the change's files as production has them and as the change
has them, in one sandboxed command; only findings production lacked count, and the manifests
it touches are diffed by package name."""

from __future__ import annotations

import ast
import configparser
import functools
import json
import posixpath
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.analysers import (
    TEST_ONLY,
    ManifestFormat,
    added,
    fingerprinted,
    run_analysers,
    shipped_data,
    values,
    workspace,
)
from harness.artifacts import AnalyserFinding, GateResult
from harness.config.models import Security
from harness.config.settings import Settings
from harness.git.repo import GitRepo
from harness.globs import matching
from harness.pysource import parse


def security_gate(
    settings: Settings, repo: GitRepo, base: str, head: str, paths: list[str], rules: Security
) -> GateResult:
    """What the change from ``base`` to ``head`` adds, judged by ``rules``: the findings of
    its files on ``head`` that production's lacked, each analyser that did not answer, and
    its dependencies."""
    with workspace(settings) as where:  # each side in a folder of its own, one request for both
        given = where.write(repo, base, paths, "before") + where.write(repo, head, paths, "after")
        analysis = run_analysers(settings, where, given, judging=True)
    sides: dict[str, list[AnalyserFinding]] = {"before": [], "after": []}
    for f in analysis.findings:
        side, _, path = f.path.partition("/")
        sides[side].append(
            fingerprinted(**f.model_dump(exclude={"fingerprint", "path"}), path=path)
        )
    every = added(sides["before"], sides["after"])
    new = [f for f in every if f.severity != TEST_ONLY]
    rank = {"low": 0, "medium": 1, "high": 2}  # an unknown word (critical, error): high
    serious = [f for f in new if rank.get(f.severity, 2) >= rank[rules.severity]]
    found = dependency_changes(repo, base, head, paths)
    deps = found.changed
    refused = [n for n in deps["added"] if not matching(n, rules.allow_dependencies)]
    said = _named(serious)
    said += [
        f"dependency added that factory_rules.md does not allow: {n} ({found.declared_in[n]})"
        for n in refused
    ]
    said += [f"dependencies the gate cannot read: {p}" for p in deps.pop("unreadable")]
    said += analysis.errors  # an analyser that did not answer
    tail = [f"dependencies {k}: {', '.join(v)}" for k, v in deps.items() if v]
    if below := [f for f in new if f not in serious]:
        tail.append(f"new findings below {rules.severity}: {'; '.join(_named(below))}")
    if test_only := sorted(f.rule for f in every if f not in new):
        tail.append(f"{len(test_only)} test-only findings ({', '.join(dict.fromkeys(test_only))})")
    quiet = [f"no new finding at or above {rules.severity}, no dependency to allow"]
    return GateResult(
        name="security", passed=not said, evidence="; ".join([*(said or quiet), *tail])
    )


def _named(findings: list[AnalyserFinding], shown: int = 10) -> list[str]:
    """The first ``shown`` findings, each in words — rule, severity, where, its message whole
    — and how many more there are: the count is bounded, never a message."""
    said = [f"{f.rule} ({f.severity}) {f.path}:{f.line} {f.message}" for f in findings[:shown]]
    return said + [f"and {len(findings) - shown} more"] * (len(findings) > shown)


def _setup_call(text: str) -> dict[str, Any]:
    """The requirement keywords of setup.py's ``setup()`` calls (``install_requires``,
    ``extras_require`` …), each a literal: one that is not, or a ``**`` mapping, cannot be
    read (ValueError). setup.py is parsed, never run."""
    calls = (n for n in ast.walk(parse(text)) if isinstance(n, ast.Call))
    words = [k for call in calls if ast.unparse(call.func).endswith("setup") for k in call.keywords]
    return {str(k.arg): ast.literal_eval(k.value) for k in words if "require" in str(k.arg)}


def _ini(text: str) -> dict[str, dict[str, str]]:
    """An INI file's sections, a dot in a section's name read as ``/``
    (``options/extras_require``: ``at`` splits at dots)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    return {name.replace(".", "/"): dict(parser[name]) for name in parser.sections()}


# a line that includes another file: pip's -r and -c, setup.cfg's "file:"
INCLUDE = re.compile(r"^(?:-[rc]|--requirement|--constraint|file:)[=\s]*(\S+)$")
NOT_READ = (ValueError, SyntaxError, configparser.Error, yaml.YAMLError)
_WORDS = re.compile(r"[\s;&|()<>`'\"=]+")
Blob = Callable[[str], bytes | None]


def _declared(
    line: str, form: ManifestFormat, path: str, blob: Blob, seen: set[str]
) -> dict[str, str]:
    """The packages one line of ``path`` declares (those of the file it includes, read once),
    with their versions; a ``#`` at its start or after a space begins a comment."""
    line = re.sub(r"(^|\s)#.*", "", line).rstrip()
    include = INCLUDE.match(line.strip())
    if include is not None:
        named = include[1].replace("{toxinidir}", ".")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), named))
        if target.startswith(("../", "/")):
            raise ValueError(named)  # outside the tree
        return {} if target in seen else packages(blob, target, ManifestFormat(), seen)
    line = re.sub(form.strip, "", line)
    if form.pattern:
        match = re.search(form.pattern, line)
        if match is None and re.search(form.declares, line):
            raise ValueError(line)  # a declaration the pattern cannot read
        return {match["name"]: match["version"] or ""} if match else {}
    try:
        found = Requirement(line.strip().split(" --")[0])
    except InvalidRequirement:  # a URL, a path, an option (-e, an index): named by itself
        return {line.strip(): ""} if line.strip() else {}
    return {canonicalize_name(found.name): str(found.url or found.specifier)}


def packages(blob: Blob, path: str, form: ManifestFormat, seen: set[str]) -> dict[str, str]:
    """The packages (lowercase name -> version or specifier) the manifest ``path`` declares,
    read as ``form`` (an entry of ``manifests`` in ``workflows/analysers.yaml``) says, with
    those of the files it includes (``-r``, ``-c``, a dependency list a build backend reads:
    read as requirements files, each once, added to ``seen``). ValueError: what it declares
    cannot be read."""
    seen.add(path)
    text = (blob(path) or b"").decode()
    readers: dict[str, Callable[[str], Any]] = {
        "json": json.loads,
        "toml": tomllib.loads,
        "yaml": yaml.safe_load,
        "ini": _ini,
        "python": _setup_call,
    }
    parsed = readers.get(form.read, str)(text) if text else {}  # not there: nothing
    found: dict[str, str] = {}
    for item in (x for at in form.at for x in values(parsed, at)):
        if isinstance(item, dict):  # a locked package, or name -> version (or a table)
            pairs = [(item["name"], item)] if "name" in item else item.items()
            found |= {
                str(k).rsplit("node_modules/", 1)[-1]: str(
                    v.get("version") if isinstance(v, dict) else v
                )
                for k, v in pairs
                if k
            }
        for line in item.replace("\\\n", " ").splitlines() if isinstance(item, str) else []:
            found |= _declared(line, form, path, blob, seen)  # a backslash continues a line
    for named in (x for at in form.lists for x in values(parsed, at)):
        found |= _declared(f"-r {named}", form, path, blob, seen)  # its dynamic dependencies
    return {n.lower(): v for n, v in found.items() if n.lower() not in form.ignore}


def setup_named(setup: str | None) -> set[str]:
    """The words of commands.setup, each a file it may name (``./tools/setup.sh``)."""
    return {word.removeprefix("./") for word in _WORDS.split(setup or "") if word}


@dataclass(frozen=True)
class Dependencies:
    """What a change does to the packages its manifests declare, by name."""

    changed: dict[str, list[str]]  # added, removed, upgraded; unreadable: manifests, named
    declared_in: dict[str, str]  # each package added: the files it touched that declare it


def dependency_changes(repo: GitRepo, base: str, head: str, paths: list[str]) -> Dependencies:
    """The packages the manifests and lock files among ``paths`` add, remove and upgrade, by
    name, and those of every manifest that includes others (a requirements file's ``-r``
    reaches a file of any name, a build backend's dynamic metadata names its dependency
    lists): the static reading, a first answer (what set-up installed is compared after it
    ran: ``harness.sandbox.policy``); ``unreadable``: a manifest the change touches, or
    leaves unreadable, that declares them in a form the diff cannot read."""
    found: dict[str, list[str]] = {"added": [], "removed": [], "upgraded": [], "unreadable": []}
    declared_in: dict[str, str] = {}
    forms = shipped_data().manifests
    globs = [g for form in forms if form.includes for g in form.files]
    blobs = [functools.partial(repo.read_blob, ref) for ref in (base, head)]
    including = {p for p in [*repo.tree(base), *paths] if matching(p, globs)}  # head's too
    for path in {*paths, *including}:
        form = next((f for f in forms if matching(path, f.files)), None)
        if form is None:
            continue
        sides: list[dict[str, str] | None] = []
        for blob in blobs:
            seen: set[str] = set()  # after the loop, what the head's side read
            try:
                sides.append(packages(blob, path, form, seen))
            except NOT_READ:
                sides.append(None)
        if sides[1] is None and (path in paths or sides[0] is not None):
            found["unreadable"].append(path)
        old, new = (side or {} for side in sides)
        found["added"] += (added := [n for n in new if n not in old])
        found["removed"] += [n for n in old if n not in new]
        found["upgraded"] += [f"{n} {old[n]} -> {v}" for n, v in new.items() if old.get(n, v) != v]
        touched = ", ".join(sorted(seen.intersection(paths))) or path  # where they were added
        declared_in |= dict.fromkeys(added, touched)
    return Dependencies({k: sorted(set(v)) for k, v in found.items()}, declared_in)
