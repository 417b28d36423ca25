"""Every git operation of the harness. No other module imports GitPython or runs git."""

from harness.git.repo import GitRepo

__all__ = ["GitRepo"]
