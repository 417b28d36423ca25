"""Production heals itself: the heal and revert workflows (docs/heal.md)."""
