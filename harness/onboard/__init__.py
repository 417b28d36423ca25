"""``factory init`` and ``factory check``: a repository made ready for the factory, and its
configuration, workflows, validators and models checked (above the workflows: they read every
layer)."""

from types import MappingProxyType

# --ci NAME -> (template folder under workflows/init/, the folder it mirrors in the repository);
# here, not in ``scaffold``, so that the CLI's --ci choices do not import the templating
CI = MappingProxyType({"github-actions": ("github", ".github")})
