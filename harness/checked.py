"""A typed record changed through its constructor: ``evolve`` builds it again through its
type. It sits below every record (a step's, the configuration's) and imports none, so a
command that reads only the configuration (``factory check``) loads no records."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

# a pydantic record of any kind: a step's, the configuration's, a rehearsal's row
M = TypeVar("M", bound=BaseModel)


def evolve(record: M, /, **changes: object) -> M:
    """``record`` with ``changes``, built again through its type, which checks them as it
    checks any record: a field it does not have, or a value of the wrong type, is refused
    (``model_copy(update=...)`` took either as it came: the house has no other way to change
    a record, ``tests/test_architecture.py`` checks)."""
    unknown = changes.keys() - type(record).model_fields.keys()
    if unknown:  # a type that ignores extra keys would drop a misspelt one
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)}")
    return type(record).model_validate({**dict(record), **changes}, by_name=True)
