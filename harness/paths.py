"""Where the shipped data folders (workflows/, validators/) live.

In a wheel they are package data under ``harness/``; in a source checkout they
sit beside the package at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the shipped data folder ``name`` (``workflows`` or ``validators``)."""
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped data folder {name!r} is missing from the installation")


def workflows_dir() -> Path:
    return data_dir("workflows")


def validators_dir() -> Path:
    return data_dir("validators")
