"""Configuration (factory.yaml) and governance (mission.md, factory_rules.md, CLAUDE.md)."""
