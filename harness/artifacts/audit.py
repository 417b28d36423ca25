"""The audit workflow's records: the analysers' and the auditor's findings, and those it files."""

from __future__ import annotations

from pydantic import Field

from harness.artifacts.base import Artifact, Inputs

__all__ = ("Analysed", "AnalyserFinding", "AuditInputs", "Audited", "AuditorFinding", "Found")


class AuditInputs(Inputs):
    dry_run: bool = False  # a look: files nothing


class AnalyserFinding(Artifact):
    """One finding of an analyser (``harness.analysers``), known by its ``fingerprint``: rule
    + path + ``snippet`` (its whitespace collapsed), never its line number."""

    analyser: str
    rule: str
    severity: str
    path: str
    line: int = 0
    message: str = ""
    snippet: str = ""
    fingerprint: str
    criterion: str = ""  # an auditor's suggested acceptance criterion
    identity: str = ""  # a secret's SHA-1: two secrets of one line are two findings (never shown)


class Found(Artifact):
    """``audit.select``: the findings an audit files (new by fingerprint, at most
    ``audit.max_issues``), how many it saw and already were issues, the analysers' errors;
    ``audit.file``: the same with the issue of each finding."""

    findings: list[AnalyserFinding]
    seen: int = 0
    known: int = 0
    errors: list[str] = Field(default_factory=list)
    issues: list[int] = Field(default_factory=list)


class AuditorFinding(Artifact):
    """One finding the auditor says the analysers missed, with the line it quotes."""

    rule: str
    path: str
    line: int
    snippet: str
    severity: str
    message: str
    criterion: str


class Audited(Artifact):
    """The auditor's ``submit_findings``."""

    findings: list[AuditorFinding]


class Analysed(Artifact):
    """``audit.analyse``: the analysers' findings over production's tree, and their errors."""

    findings: list[AnalyserFinding]
    errors: list[str] = Field(default_factory=list)
