"""Every git operation of the harness: no other module runs git (see ``env`` for how)."""

from harness.git.repo import GitRepo

__all__ = ("GitRepo",)
