"""Validate: hold-out journeys and the sealed validator decide; code merges what passes."""
