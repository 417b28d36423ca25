"""Dark factory harness: a repository that maintains itself inside hard limits."""

import os

__version__ = "0.1.0"
# No pydantic plugin: one installed beside the harness would see every record it validates
# (model answers, settings), and finding plugins reads every installed package's metadata.
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
