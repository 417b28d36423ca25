"""The gates known before validation, each computed in code with its evidence."""

from __future__ import annotations

import re

from harness.artifacts import GateResult, Review, Tested
from harness.config.network import widening
from harness.config.testfiles import failed_said
from harness.git.repo import FileChange, added_lines
from harness.globs import matching, protected_hits
from harness.implement.security import setup_named
from harness.redact import CREDENTIALS, secret_values

# credential shapes are the redactor's (one list); a private key block is only ever refused
SECRET_PATTERNS = (*CREDENTIALS, ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")))


MARKER = re.compile(r"(<{7}|>{7}) [0-9a-f]{40}([0-9a-f]{24})?\s*$")


def _gate(name: str, passed: bool, evidence: str) -> GateResult:
    return GateResult(name=name, passed=passed, evidence=evidence)


def changed_lines_gate(changes: list[FileChange], limit: int) -> GateResult:
    total = sum(c.added_lines + c.deleted_lines for c in changes)
    files = ", ".join(f"{c.path} (+{c.added_lines} -{c.deleted_lines})" for c in changes[:20])
    return _gate("changed_lines", total <= limit, f"{total} changed lines (limit {limit}): {files}")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _sized(changes: list[FileChange]) -> str:
    """Each file with its new size, as the size gate names them."""
    return ", ".join(f"{c.path} ({_size(c.new_size)})" for c in changes)


def size_gate(changes: list[FileChange], max_added_bytes: int, max_file_bytes: int) -> GateResult:
    """Bytes, not lines: a binary file is one changed line but may weigh 50 MB."""
    added = sum(c.added_bytes for c in changes)
    largest_first = sorted(changes, key=lambda c: -c.new_size)  # stable: equals keep their order
    over = [c for c in largest_first if c.new_size > max_file_bytes]
    binary = [c for c in largest_first if c.binary and c.new_size]
    largest = [c for c in largest_first if c.new_size][:5]
    parts = [f"{added:,} bytes added (limit {max_added_bytes:,})"]
    if over:
        parts.append(f"files over {max_file_bytes:,} bytes: {_sized(over[:10])}")
    elif largest:
        parts.append("largest: " + _sized(largest))
    if binary:
        more = f" and {len(binary) - 10} more" if len(binary) > 10 else ""
        parts.append(f"binary files: {_sized(binary[:10])}{more}")
    return _gate("size", added <= max_added_bytes and not over, "; ".join(parts))


def protected_paths_gate(paths: list[str], patterns: list[str]) -> GateResult:
    hits = protected_hits(paths, patterns)
    shown = ", ".join(f"{p} (matches {g})" for p, g in hits[:10])
    said = f"touches protected paths: {shown}"
    held = f"{len(paths)} changed files, none protected"
    return _gate("protected_paths", not hits, said if hits else held)


def secrets_gate(diff: str) -> GateResult:
    added = "\n".join(line[1:] for line in diff.splitlines() if line.startswith("+"))
    found = [name for name, rx in SECRET_PATTERNS if rx.search(added)]
    found += ["a secret of the harness's environment" for v in secret_values() if v in added]
    said = f"added lines contain: {', '.join(sorted(set(found)))}"
    held = "no secret pattern in the added lines"
    return _gate("secrets", not found, said if found else held)


def conflicts_left(patch: str) -> list[str]:
    """The files a change adds a line git writes around a conflict of two commits to (each
    marker names one): a retry starts on them, carried by every retry after it until resolved."""
    return [p for p, lines in added_lines(patch).items() if any(map(MARKER.match, lines))]


def tests_gate(test: Tested | None, final_tree: str | None) -> GateResult:
    if test is None:
        return _gate("tests_green", False, "the test command did not run")
    same = test.tree == final_tree
    where = "on the final commit" if same else "NOT on the final commit (changed after the tests)"
    said = f"`{test.command}` exited {test.exit_code} {where} in {test.duration_s:.1f}s"
    said += failed_said(test.output)
    return _gate("tests_green", test.exit_code == 0 and same, said)


def fix_attempts_gate(attempts: int, limit: int) -> GateResult:
    return _gate("fix_attempts", attempts <= limit, f"{attempts} fix attempts (limit {limit})")


def budget_gate(spent: float, cap: float) -> GateResult:
    return _gate("budget", spent <= cap, f"${spent:.4f} spent on this issue (cap ${cap:.2f})")


def setup_code_gate(paths: list[str], inputs: list[str], setup: str | None) -> GateResult:
    """Whether the change touches what ``commands.setup`` reads, read before it runs: a file
    its command names (``./tools/setup.sh``) or a set-up input (``commands.setup_inputs``).
    The static first answer; what set-up was seen to read is validation's ``setup_code``
    (``harness.validate.route``, from the trace: ``harness.sandbox.policy``)."""
    named = setup_named(setup)
    hits = [p for p in paths if setup and (p in named or matching(p, inputs))]
    said = f"changes what setup runs: {', '.join(hits[:10])}"
    held = f"{len(paths)} changed files, none of them run by setup"
    return _gate("setup_code", not hits, said if hits else held)


def network_allow_gate(new: list[str], patch: str, allow: list[str]) -> GateResult:
    """Whether the change would widen what setup may reach: a manifest added for a registry
    the allow-list in force does not hold, another index or registry named, a package by
    URL (``harness.config.network.widening``)."""
    found = widening(new, added_lines(patch), allow)
    said = "would widen setup's network: " + "; ".join(found)
    held = f"no new registry or index (allowed: {len(allow)} hosts)"
    return _gate("network_allow", not found, said if found else held)


def reviews_gate(reviews: list[tuple[str, Review | None]]) -> GateResult:
    """``review.second``: both reviewers approve, else a person decides with both reviews
    (who, verdict, score, findings) in the evidence."""
    said = []
    for who, review in reviews:
        found = [f"[{f.severity}] {f.description}" for f in review.findings] if review else []
        verdict = f"{review.verdict} {review.score}" if review else "no review"
        said.append(f"{who}: {verdict}" + (f" ({'; '.join(found[:5])})" if found else ""))
    agree = all(review is not None and review.verdict == "approve" for _, review in reviews)
    return _gate("reviews_agree", agree, " | ".join(said))
