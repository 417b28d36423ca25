"""A typed record changed through its constructor: ``record.evolve(**changes)`` builds it
again through its type. It sits below every record (a step's, the configuration's, a
backtest's row) and imports none, so a command that reads only the configuration
(``factory check``) loads no records."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel


class Evolving(BaseModel):
    """A record that changes only through its constructor."""

    def evolve(self, **changes: object) -> Self:
        """This record with ``changes``, built again through its type, which checks them as it
        checks any record: a field it does not have, or a value of the wrong type, is refused
        (``model_copy(update=...)`` took either as it came: the house has no other way to
        change a record, ``tests/test_architecture.py`` checks)."""
        unknown = changes.keys() - type(self).model_fields.keys()
        if unknown:  # a type that ignores extra keys would drop a misspelt one
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)}")
        return self.model_validate({**dict(self), **changes}, by_name=True)
