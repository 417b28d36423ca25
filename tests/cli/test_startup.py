"""A command starts without the heavy clients it does not use: the Anthropic SDK (about a
second and a half to import) and PyGithub are imported only by what talks to them."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_imports_neither_the_model_sdk_nor_the_github_client() -> None:
    probe = (
        "import sys, harness.cli\n"
        "print(sorted(m for m in ('anthropic', 'github') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out
