"""The model layer: the only part of the harness that talks to a language model."""
