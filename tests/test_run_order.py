"""The run's order (``tests/conftest.py``, ``pytest_collection_modifyitems``): the modules
that share a costly fixture (``together(name)``) all land in one worker's share of the run,
whatever their recorded figures say, so the fixture is made once."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import pytest_collection_modifyitems

WORKERS = 3


class Item(SimpleNamespace):
    def get_closest_marker(self, name: str) -> object:
        return self.markers.get(name)


def _items(root: Path) -> list[Item]:
    """The shared fixture's costly first reader, a reader recorded as short (it ran after the
    fixture was made), and other modules, light and slow, around them."""
    shared = {"together": SimpleNamespace(args=("cycle",))}
    modules = {
        "test_a.py": (20, {}),
        "test_dashboard.py": (10, {**shared, "browser": True}),
        "test_b.py": (30, {"slow": True}),
        "test_c.py": (40, {}),
        "test_views.py": (3, shared),  # recorded short; collected far from its fixture's maker
        "test_d.py": (5, {"browser": True}),
    }
    return [
        Item(path=root / name, nodeid=f"{name}::t{n}", markers=markers)
        for name, (count, markers) in modules.items()
        for n in range(count)
    ]


def _shares(items: list[Item]) -> list[set[str]]:
    """Each worker's modules, as ``--dist worksteal`` hands the list out before any steal: the
    first ``N // K`` items, then ``(N - first) // (K - 1)``, ..."""
    shares, start = [], 0
    for worker in range(WORKERS):
        end = start + (len(items) - start) // (WORKERS - worker)
        shares.append({item.path.name for item in items[start:end]})
        start = end
    return shares


def test_a_module_sharing_a_fixture_runs_on_its_worker_whatever_its_recorded_figure(
    tmp_path: Path,
) -> None:
    record = tmp_path / "costs.json"
    short = {"wall_s": 0.4, "cpu_s": 0.3, "tests": 3, "core_s": 0.3}
    record.write_text(json.dumps({"test_views.py": short, "test_b.py": {**short, "wall_s": 60}}))
    config = SimpleNamespace(
        workerinput={"workercount": WORKERS},
        getoption=lambda name: str(record),
        rootpath=tmp_path,
    )
    items = _items(tmp_path)
    pytest_collection_modifyitems(config, items)  # type: ignore[arg-type]
    assert sorted(i.nodeid for i in items) == sorted(i.nodeid for i in _items(tmp_path))
    shares = _shares(items)
    assert [s for s in shares if "test_views.py" in s] == [
        s for s in shares if "test_dashboard.py" in s
    ], shares
