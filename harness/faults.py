"""Fault injection for crash tests: ``FACTORY_FAULT_AT=<point>`` kills the process (SIGKILL)
the moment execution reaches that named point, after everything before it was persisted."""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    if os.environ.get("FACTORY_FAULT_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
