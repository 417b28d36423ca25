"""Implement: from an accepted issue to a PR, in a worktree, with gates computed in code."""
