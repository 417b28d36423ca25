"""The labels the factory sets up (``workflows/forge/labels.yaml``) against those its code
sets (``Label``): a label the factory sets but never creates would reach GitHub grey and
unexplained."""

from __future__ import annotations

from harness.forge.base import Label, factory_labels


def named(kind: type) -> set[str]:
    return {value for key, value in vars(kind).items() if key.isupper()}


def test_every_label_the_factory_sets_is_set_up_with_a_colour_and_a_description() -> None:
    shipped = factory_labels()
    assert named(Label) <= set(shipped)
    assert {name for name in shipped if name.startswith("factory:")} == named(Label)
    for colour, description in shipped.values():
        assert len(colour) == 6 and int(colour, 16) >= 0 and description


def test_a_label_missing_from_the_shipped_file_is_caught() -> None:
    class More(Label):
        BLOCKED = "factory:blocked"

    assert not named(More) <= set(factory_labels())
