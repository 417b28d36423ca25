"""The analysers: well-kept tools (Bandit, detect-secrets, a project's ``commands.audit``),
data in ``workflows/analysers.yaml``, run sandboxed and offline over a workspace's files by
the cycle's warm interpreter (``harness.sandbox.warm``). A finding is known by its
fingerprint (rule + path + normalised snippet, never a line number), so it keeps its identity
when code moves (docs/gates.md)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import posixpath
import re
import shlex
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from harness.artifacts import Analysed, AnalyserFinding
from harness.config.models import Strict
from harness.config.settings import Settings
from harness.cpu import cpus
from harness.digest import sha256
from harness.git.repo import GitRepo
from harness.globs import matching
from harness.paths import shipped_yaml
from harness.sandbox.forks import Ask
from harness.sandbox.limits import Limits
from harness.sandbox.policy import TREE
from harness.sandbox.shared import service
from harness.sandbox.warm import Warm

LIMITS = Limits(timeout_s=300, output_bytes=20_000_000)
MAX_FILE = 1_000_000  # bytes of one file the analysers read
TEST_ONLY = "test-only"  # a finding of test code no person acts on: counted, never shown


class Analyser(Strict):
    """One tool, as ``workflows/analysers.yaml`` describes it (the defaults read the
    harness's own shape, which ``commands.audit`` prints)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    files: Sequence[str] = ("*",)
    shebang: str = "(?!)"  # never matches
    command: str = Field(min_length=1)
    unsuppressed: str = ""
    results: str = "results"
    rule: str = "rule"
    severity: str = "severity"
    path: str = "path"
    line: str = "line"
    message: str = "message"
    snippet: str | None = None
    mask: str = ""
    placeholders: Sequence[str] = ()
    low_in_tests: Sequence[str] = ()
    test_only: Mapping[str, str] = {}  # rule -> what its line in test code matches: TEST_ONLY
    warm: bool = False  # its command is {python} -I -m MODULE …: run warm (docs/gates.md)


class ManifestFormat(Strict):
    """One format of manifest or lock file the dependency diff reads (an entry of
    ``manifests`` in ``workflows/analysers.yaml``, which says what each field means); the
    defaults read a requirements file."""

    files: Sequence[str] = ()
    read: str = "lines"
    at: Sequence[str] = ("",)
    lists: Sequence[str] = ()
    strip: str = "^$"
    pattern: str = ""
    declares: str = "(?!)"
    ignore: Sequence[str] = ()
    includes: bool = False


class Shipped(Strict):
    """``workflows/analysers.yaml``: the analysers, what the audit skips and runs besides
    them, and the manifests a dependency diff reads."""

    analysers: list[Analyser]
    skip: list[str]
    audit: list[Analyser]
    manifests: list[ManifestFormat]


@functools.cache
def shipped_data() -> Shipped:
    """``workflows/analysers.yaml``, read once per process (not to be changed)."""
    return Shipped.model_validate(shipped_yaml("analysers.yaml"))


def load_analysers(settings: Settings) -> list[Analyser]:
    """The shipped analysers, and ``commands.audit`` when factory.yaml sets it."""
    found = list(shipped_data().analysers)
    audit = settings.config.commands.audit
    return [*found, Analyser(name="audit", command=audit)] if audit else found


def fingerprinted(**fields: Any) -> AnalyserFinding:
    """A finding from ``AnalyserFinding``'s fields but its fingerprint, computed here: rule +
    path + the snippet, whose whitespace is collapsed."""
    snippet = " ".join(str(fields.get("snippet", "")).split())[:300]
    key = f"{fields['rule']}\0{fields['path']}\0{snippet}"
    fields.update(
        snippet=snippet,
        fingerprint=sha256(key)[:20],
        severity=str(fields["severity"]).lower(),
        message=str(fields["message"])[:300],
    )
    return AnalyserFinding(**fields)


def added(before: list[AnalyserFinding], after: list[AnalyserFinding]) -> list[AnalyserFinding]:
    """The occurrences of ``after`` that ``before`` does not have, counted per fingerprint
    (and secret): a second copy of a finding production has is new."""
    known = Counter((f.fingerprint, f.identity) for f in before)
    new = []
    for f in after:
        known[f.fingerprint, f.identity] -= 1
        if known[f.fingerprint, f.identity] < 0:
            new.append(f)
    return new


@dataclass(frozen=True)
class Workspace:
    """A fresh folder for the files to analyse, inside ``warm``'s view."""

    path: Path
    warm: Warm

    def write(self, repo: GitRepo, ref: str, paths: list[str], under: str = ".") -> list[str]:
        """``paths`` as ``ref`` holds them (files of at most ``MAX_FILE`` bytes), written in
        the folder ``under``; those written, from the workspace's root."""
        blobs = repo.read_blobs(ref, paths, MAX_FILE)
        for path, data in blobs.items():
            target = self.path / under / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return [posixpath.normpath(f"{under}/{path}") for path in blobs]


def _warm(settings: Settings) -> tuple[Warm, bool]:
    """The cycle's warm analysers (this call's own outside a cycle), and whether it owns them."""
    ups = [_request(a, ".", 1, False) for a in load_analysers(settings) if a.warm]
    key = ("analysers", settings.state_dir, json.dumps(ups))
    return service(key, lambda: Warm(settings, LIMITS, ups))


def warm_up(settings: Settings) -> None:
    """The cycle's warm analysers started now, so that a change's gates do not wait on their
    interpreter's imports (outside a cycle, nothing would keep them until then)."""
    warm, owned = _warm(settings)
    if owned:
        warm.stop()
    else:
        warm.start()


@contextlib.contextmanager
def workspace(settings: Settings) -> Iterator[Workspace]:
    """A workspace of the cycle's warm analysers (this call's own outside a cycle)."""
    warm, owned = _warm(settings)
    try:
        with tempfile.TemporaryDirectory(dir=warm.folder, ignore_cleanup_errors=True) as folder:
            yield Workspace(Path(folder), warm)
    finally:
        if owned:
            warm.stop()


def _request(analyser: Analyser, paths: str, workers: int, judging: bool) -> Ask:
    """How the warm interpreter runs ``analyser`` on ``paths``: a warm one's module in a fork
    of itself, another's shell command."""
    command = analyser.command.replace("{paths}", paths).replace("{workers}", str(workers))
    command = command.replace("{unsuppressed}", analyser.unsuppressed if judging else "")
    if analyser.warm:
        words = shlex.split(command)
        return {"module": words[3], "args": words[4:]}
    return {"shell": command.replace("{python}", shlex.quote(sys.executable))}


def run_analysers(
    settings: Settings,
    where: Workspace,
    paths: list[str],
    analysers: list[Analyser] | None = None,
    judging: bool = False,
) -> Analysed:
    """Every analyser whose ``files`` (or ``shebang``) match one of ``paths``: the warm ones
    in one request (one fork), each other alone (a shell command runs alone in its fork, so
    that nothing it leaves running meets another's files). Judging a change: one worker each,
    its files named to every analyser, and what a comment in them suppresses is found too
    (``unsuppressed``); else a whole tree: a worker per core, and a command of the shell (not
    ``warm``) is given the workspace's root."""
    found: list[AnalyserFinding] = []
    errors: list[str] = []
    tests = settings.config.backtest.test_paths
    chosen = []
    for analyser in load_analysers(settings) if analysers is None else analysers:
        mine = [p for p in paths if matching(p, analyser.files) or _shebang(analyser, where, p)]
        if not mine:
            continue
        given = shlex.join(mine) if judging or analyser.warm else "."
        chosen.append((analyser, _request(analyser, given, 1 if judging else cpus(), judging)))
    warm = [ask for analyser, ask in chosen if analyser.warm]
    answers = iter(where.warm.run(where.path, warm) if warm else [])
    for analyser, ask in chosen:
        text, err = next(answers) if analyser.warm else where.warm.run(where.path, [ask])[0]
        try:
            entries = [e for e in values(json.loads(text), analyser.results) if isinstance(e, dict)]
        except ValueError:
            errors.append(f"{analyser.name} gave no JSON: {(err or text).strip()[-300:]}")
            continue
        secrets = {str(e.get(analyser.mask)) for e in entries}  # masked on each line
        found += [_read(analyser, where.path, entry, secrets, tests) for entry in entries]
    return Analysed(findings=found, errors=errors)  # errors: an analyser that gave no JSON, why


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


def _shebang(analyser: Analyser, where: Workspace, path: str) -> bool:
    """Whether ``path``'s first line names the interpreter ``analyser`` reads."""
    with (where.path / path).open("rb") as file:
        return re.match(analyser.shebang, file.readline(300).decode("utf-8", "replace")) is not None


def masked(line: str, secrets: set[str]) -> str:
    """``line`` with each word whose SHA-1 is one of ``secrets`` (detect-secrets'
    ``hashed_secret``) masked; nothing of it when no word is one (a secret with a space or a
    sign in it)."""
    words = re.split(r"([^\w-]+)", line)
    shown = ["*" * len(word) if _digest(word) in secrets else word for word in words]
    return "".join(shown) if shown != words else "********"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _read(
    analyser: Analyser, root: Path, entry: dict[str, Any], secrets: set[str], tests: list[str]
) -> AnalyserFinding:
    def get(key: str) -> str:
        return key[1:] if key.startswith("=") else str(entry.get(key, "") or "")

    path = get(analyser.path).removeprefix(f"{TREE}/").removeprefix("./")  # ruff's are absolute
    line = int(get(analyser.line) or 0)
    snippet = get(analyser.snippet) if analyser.snippet else ""
    if not analyser.snippet and line > 0 and (file := root / path).is_file():  # its line
        snippet = "".join(file.read_text("utf-8", "replace").splitlines()[line - 1 : line])
    fields = {k: get(getattr(analyser, k)) for k in ("rule", "severity", "message")}
    identity = get(analyser.mask)  # "": no mask
    in_tests = matching(path, tests)
    only = analyser.test_only.get(fields["rule"])
    if in_tests and only is not None and re.search(only, snippet):
        fields["severity"] = TEST_ONLY
    elif (in_tests and fields["rule"] in analyser.low_in_tests) or identity in {
        _digest(p)
        for p in analyser.placeholders  # or a placeholder
    }:
        fields["severity"] = "low"
    snippet = masked(snippet, secrets) if analyser.mask else snippet
    return fingerprinted(
        analyser=analyser.name, path=path, line=line, snippet=snippet, identity=identity, **fields
    )
