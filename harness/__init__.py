"""Dark factory harness: a repository that maintains itself inside hard limits."""

__version__ = "0.1.0"
