"""Triage: a deterministic pre-screen, the triage agent, and code that applies its decision."""
