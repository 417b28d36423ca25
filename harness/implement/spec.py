"""What the implementer works from: triage's structured spec, never the live issue text."""

from __future__ import annotations

import base64
import binascii
import json

from pydantic import ValidationError

from harness.artifacts import Assignment, IssueSpec, RevertedChange
from harness.forge.base import Forge, Issue
from harness.forge.markers import Markers
from harness.store.db import Store

# the spec block's format: v2 carries every field of IssueSpec but its number (the
# signature binds that); v1, the first, carried seven (no reason, rule or source)
SPEC_VERSION = 2


def triage_spec(store: Store, issue: int) -> Assignment | None:
    """The newest applied triage decision for ``issue`` (the ``IssueSpec`` triage handed on,
    found by type, never by a step's id) with the sanitised text it judged and its run."""
    found = store.artifacts(IssueSpec, issue, limit=1)
    if not found:
        return None
    run_id, spec = found[0]
    return Assignment(**dict(spec), triage_run=run_id)


def spec_block(markers: Markers, spec: IssueSpec) -> str:
    """The accepted ``spec`` as a hidden block of its issue's triage comment, signed for that
    issue (base64 JSON, so nothing in it can end the HTML comment): a runner with no state of
    its own reads it back, and only on the issue it was made for."""
    fields = {"v": SPEC_VERSION, **spec.model_dump(mode="json", exclude={"number"})}
    data = json.dumps(fields, sort_keys=True).encode()
    return markers.block("spec", spec.number, base64.b64encode(data).decode())


def forge_spec(forge: Forge, issue: int) -> Assignment | None:
    """The spec from the factory's own triage comment (anyone else's, or a block unsigned for
    this issue or unparsable, counts as none); an older block's missing field takes its
    default, a newer factory's extra field is left out."""
    comment = forge.find_comment(issue, "triage:accept")
    payload = forge.markers.read_block("spec", issue, comment.body) if comment else None
    if payload is None:
        return None
    try:
        data = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    known = {k: v for k, v in data.items() if k in IssueSpec.model_fields and k != "number"}
    try:
        return Assignment(number=issue, **known)
    except ValidationError:
        return None


def change_block(markers: Markers, change: RevertedChange) -> str:
    """A regression issue's signed block of the change heal reverted (its issue's number,
    title, body and criteria as triage signed them, the merge's diff): read back, exactly, by
    whoever implements the issue, and never by the pre-screen (a signed block is left out of
    the text it screens: the diff is code, markup and all)."""
    data = change.model_dump_json().encode()
    return markers.block("change", 0, base64.b64encode(data).decode())


def reverted_change(forge: Forge, issue: Issue) -> RevertedChange | None:
    """The change a regression issue of the factory's own brings back (``change_block``);
    None for any other issue, or a block anyone else wrote."""
    own = forge.is_own(issue.author)
    payload = forge.markers.read_block("change", 0, issue.body) if own else None
    return RevertedChange.model_validate_json(base64.b64decode(payload)) if payload else None
