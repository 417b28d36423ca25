"""``factory init`` and ``factory check``: a repository made ready for the factory, and its
configuration, workflows, validators and models checked (above the workflows: they read every
layer)."""
