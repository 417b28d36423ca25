"""Learn: lessons derived from what the store already keeps (refusals by type, people's
decisions in the audit trail), and governance edits proposed from them as pull requests the
factory never merges (docs/learning.md)."""
