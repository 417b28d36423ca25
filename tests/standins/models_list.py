"""The stand-in's answer to ``GET /v1/models``: every model the installed SDK names, active,
and the ones it warns about as deprecated with their end-of-life date; a test may change
an entry (retire a model, hide one from the key)."""

from __future__ import annotations

from typing import Any

from harness.model.catalog import Listing, end_of_life, known_ids


def default_listings() -> dict[str, Listing]:
    listings: dict[str, Listing] = {}
    for model in sorted(known_ids()):
        eol = end_of_life(model)
        listings[model] = Listing(model, "deprecated" if eol else "active", eol)
    return listings


def page(listings: dict[str, Listing]) -> dict[str, Any]:
    data = [
        {
            "type": "model",
            "id": entry.id,
            "display_name": entry.id,
            "created_at": "2026-01-01T00:00:00Z",
            "lifecycle": entry.lifecycle,
            "deprecated_at": None if entry.lifecycle == "active" else "2026-01-01T00:00:00Z",
            "retires_at": f"{entry.retires_at.isoformat()}T00:00:00Z" if entry.retires_at else None,
        }
        for entry in listings.values()
    ]
    first = data[0]["id"] if data else None
    return {
        "data": data,
        "has_more": False,
        "first_id": first,
        "last_id": data[-1]["id"] if data else None,
    }
