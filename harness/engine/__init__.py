"""The workflow engine: runs the steps of a YAML workflow, persisting each before the next."""
