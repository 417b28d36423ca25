"""Where generated CI installs the harness from: a pinned source, never a bare name (a job
that holds a model key and a token must not install whatever an index serves under a name
anyone can register): a git URL with a full commit, or an archive or wheel URL with its
hash (docs/github.md). Without ``--package``, the source is how this harness was installed
(PEP 610 ``direct_url.json``) when that is such a source; otherwise the maintainer gives one."""

from __future__ import annotations

import json
import re
from importlib import metadata

from harness.errors import UsageError

DIST = "dark-factory-harness"
_GIT = re.compile(r"^(?:[A-Za-z0-9_.-]+\s*@\s*)?git\+https://[^\s@]+(?:\.git)?@[0-9a-f]{40}$")
_ARCHIVE = re.compile(
    r"^(?:[A-Za-z0-9_.-]+\s*@\s*)?https://\S+\.(?:whl|tar\.gz|zip)#sha256=[0-9a-f]{64}$"
)
HOW = (
    "give --package with a git URL and a full commit "
    f"('{DIST} @ git+https://github.com/OWNER/REPO@<40-hex commit>') or a wheel URL with "
    f"its hash ('{DIST} @ https://…/{DIST.replace('-', '_')}-VERSION-py3-none-any.whl"
    "#sha256=<64 hex>')"
)


def pinned_problem(spec: str) -> str | None:
    """Why ``spec`` is not a pinned source, or None."""
    spec = spec.strip()
    if _GIT.match(spec) or _ARCHIVE.match(spec):
        return None
    return f"{spec!r} is not pinned to exact bytes; {HOW}"


def installed_source() -> str | None:
    """The pinned source this harness was installed from, when it was installed from one."""
    try:
        raw = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None  # installed from an index: a name and a version, no hash on record
    return pinned_from_direct_url(raw)


def pinned_from_direct_url(raw: str) -> str | None:
    """A pinned source from PEP 610 ``direct_url.json`` text, when it records one."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    url = str(data.get("url", ""))
    vcs = data.get("vcs_info") or {}
    archive = data.get("archive_info") or {}
    hashed = str(archive.get("hash", "")).removeprefix("sha256=")
    sha256 = (archive.get("hashes") or {}).get("sha256") or hashed
    found = None
    if vcs.get("vcs") == "git" and vcs.get("commit_id"):
        found = f"{DIST} @ git+{url}@{vcs['commit_id']}"
    elif sha256:
        found = f"{DIST} @ {url.split('#')[0]}#sha256={sha256}"
    # a local folder or file, or anything not pinned to exact bytes: nothing CI can use
    return found if found and pinned_problem(found) is None else None


def ci_package(spec: str | None) -> str:
    """The pinned source to write into CI workflows, or a UsageError saying what to give."""
    if spec is not None:
        problem = pinned_problem(spec)
        if problem:
            raise UsageError(f"--package: {problem}")
        spec = spec.strip()
        return f"{DIST} @ {spec}" if spec.startswith(("git+", "https://")) else spec
    found = installed_source()
    if found is None:
        raise UsageError(
            "--ci: this harness was not installed from a pinned source CI can fetch; " + HOW
        )
    return found
