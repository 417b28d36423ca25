"""Agent tools: file access confined to one worktree, and commands in the sandbox."""
