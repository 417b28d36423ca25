"""What the implementer works from: triage's structured spec, never the live issue text."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from harness.forge.base import Forge
from harness.forge.markers import Markers
from harness.store.db import Store

_SPEC_KEYS = (
    "title",
    "body",
    "issue_sha256",
    "decision",
    "kind",
    "priority",
    "acceptance_criteria",
)


def triage_spec(store: Store, issue: int) -> dict[str, Any] | None:
    """The newest applied triage decision for ``issue`` with the sanitised text it judged."""
    for run in store.list_runs(limit=20, workflow="triage", issue=issue):
        if run.status != "succeeded":
            continue
        steps = {s.step_id: s for s in store.steps(run.id) if s.status == "succeeded"}
        if "prescreen" in steps and "apply" in steps:
            pre, applied = steps["prescreen"].outputs, steps["apply"].outputs
            return {
                "number": issue,
                "title": pre.get("title", ""),
                "body": pre.get("body", ""),
                "issue_sha256": pre.get("issue_sha256", ""),
                "decision": applied.get("decision"),
                "kind": applied.get("kind"),
                "priority": applied.get("priority"),
                "acceptance_criteria": list(applied.get("acceptance_criteria") or []),
                "triage_run": run.id,
            }
    return None


def spec_block(markers: Markers, spec: dict[str, Any]) -> str:
    """The accepted spec as a hidden, signed block of the triage comment (base64 JSON, so
    nothing in it can end the HTML comment): a runner with no state of its own reads it back."""
    data = json.dumps({k: spec.get(k) for k in _SPEC_KEYS}, sort_keys=True).encode()
    return markers.block("spec", base64.b64encode(data).decode())


def forge_spec(forge: Forge, issue: int) -> dict[str, Any] | None:
    """The spec from the factory's own triage comment (a comment by anyone else, a block
    whose signature does not hold, or one that does not parse, counts as none)."""
    comment = forge.find_comment(issue, "triage:accept")
    payload = forge.markers.read_block("spec", comment.body) if comment else None
    if payload is None:
        return None
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or set(data) != set(_SPEC_KEYS):
        return None
    return {"number": issue, **data, "triage_run": None}
