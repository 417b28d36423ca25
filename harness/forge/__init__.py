"""Forges: where issues, labels, comments and pull requests live (local or GitHub)."""
