"""What the rooms hand out: typed, frozen records, one type per fact, looked up by type —
never by the id of the step that made it (docs/architecture.md, "What flows between
workflows"). One module per workflow's records (``base``: what every record is; ``browser``:
what the browser reports; ``verdict``: the sealed validator's answer); this face is every
module's public names (each module's own imports stay its own: mypy re-exports what a module
defines), and builds the registries once every module is imported. Its ``__all__`` is
its parts' own lists and the registries: what a part keeps to itself (``BaseModel``,
``Field``…) stays there."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from harness.artifacts import (
    audit,
    base,
    browser,
    cycle,
    implement,
    lessons,
    production,
    triage,
    validate,
    verdict,
)
from harness.artifacts.audit import *
from harness.artifacts.base import *
from harness.artifacts.browser import *
from harness.artifacts.cycle import *
from harness.artifacts.implement import *
from harness.artifacts.lessons import *
from harness.artifacts.production import *
from harness.artifacts.triage import *
from harness.artifacts.validate import *
from harness.artifacts.verdict import *

__all__: tuple[str, ...] = ("ARTIFACTS", "OUTPUT_TOOLS")
__all__ += audit.__all__
__all__ += base.__all__
__all__ += browser.__all__
__all__ += cycle.__all__
__all__ += implement.__all__
__all__ += lessons.__all__
__all__ += production.__all__
__all__ += triage.__all__
__all__ += validate.__all__
__all__ += verdict.__all__


def _kinds(cls: type[Artifact]) -> list[type[Artifact]]:
    return [cls, *(k for sub in cls.__subclasses__() for k in _kinds(sub))]


# every record type of this package by name, as a step's ``steps.artifact`` names it
ARTIFACTS: Mapping[str, type[Artifact]] = MappingProxyType(
    {k.__name__: k for k in _kinds(Artifact)[1:]}
)

# the agents' output tools whose input is a record of its own
OUTPUT_TOOLS: Mapping[str, type[Artifact]] = MappingProxyType(
    {
        "submit_triage": Judgement,
        "submit_plan": Plan,
        "finish": Implemented,
        "submit_review": Review,
        "submit_governance_edit": GovernanceEdit,
        "submit_findings": Audited,
        "submit_verdict": Verdict,  # validation.second's look (the seal reads its own)
    }
)
