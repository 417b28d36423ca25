"""What the implementer works from: triage's structured spec, never the live issue text."""

from __future__ import annotations

from typing import Any

from harness.store.db import Store


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
