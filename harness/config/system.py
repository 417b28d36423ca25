"""The system pieces the factory needs (``workflows/init/system.yaml``): one list, which ``make
install`` (``python -m harness.config.system``: the packages missing here, then the services
to switch off) and the CI workflows ``factory init --ci`` writes both install from."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from harness.paths import shipped_yaml


def pieces() -> list[dict[str, Any]]:
    return list(shipped_yaml("init", "system.yaml")["pieces"])


def _present(how: str) -> bool:
    if how.startswith("/"):
        return Path(how).exists()
    return shutil.which(how, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") is not None


def missing() -> list[dict[str, Any]]:
    """The pieces this machine lacks (the browser is there when FACTORY_CHROMIUM names one)."""
    named = bool(os.environ.get("FACTORY_CHROMIUM"))
    return [p for p in pieces() if not (p.get("browser") and named) and not _present(p["present"])]


if __name__ == "__main__":  # pragma: no cover - the Makefile's
    lacking = missing()
    sys.stdout.write(" ".join(p["package"] for p in lacking) + "\n")
    sys.stdout.write(" ".join(p["service"] for p in lacking if p.get("service")) + "\n")
