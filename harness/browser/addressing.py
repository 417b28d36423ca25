"""Text that addresses the validator, read as an adversary writes it: on a skeleton of the
text (``skeleton``) and with an open vocabulary kept as data (``addressing`` in
``validators/sealed_browser.yaml``: who is addressed, how an address opens, what it asks),
one vocabulary per language, every one of them read whatever language a page declares."""

from __future__ import annotations

import re
import unicodedata

from pydantic import Field

from harness.config.yamlload import FileModel


def skeleton(text: str) -> str:
    """``text`` as the detector reads it: Unicode NFKC (fullwidth and styled letters as the
    letters they show), format characters (zero-width spaces and joiners, direction marks)
    left out, each letter of another script that looks like a Latin one or a digit (a
    Cyrillic ``а``, a Greek ``ο``) written as that one, all in lower case. The look-alikes
    are Unicode's own confusables data, as ``confusable_homoglyphs`` keeps it (its tables
    are regenerated from each Unicode release; loaded only for text that is not ASCII)."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text.casefold()
    from confusable_homoglyphs import confusables

    chars = "".join(set(text))
    table: dict[int, str] = {ord(c): "" for c in chars if unicodedata.category(c) == "Cf"}
    aliases = ["latin", "common"]
    for found in confusables.is_confusable(chars, greedy=True, preferred_aliases=aliases) or []:
        like = [g["c"] for g in found["homoglyphs"] if g["c"].isascii() and g["c"].isalnum()]
        if like:
            table[ord(found["character"])] = min(like, key=str.isdigit)  # a letter first
    return text.translate(table).casefold()


class Vocabulary(FileModel):
    """One language's words: ``addressees`` (validator, QA, bot …: a plural ``s`` is read
    too), ``openers`` that begin an address (dear, to the, note to …), ``machine``: words
    that make an addressee an automated one (automated, AI …), ``directives`` (must,
    please …), ``instructions`` (pass, approve, mark …) and what addresses the validator
    ``alone`` (``submit_verdict``, "ignore previous instructions")."""

    addressees: tuple[str, ...] = Field(min_length=1)
    openers: tuple[str, ...] = ()
    machine: tuple[str, ...] = ()
    directives: tuple[str, ...] = ()
    instructions: tuple[str, ...] = Field(min_length=1)
    alone: tuple[str, ...] = ()

    def pattern(self) -> re.Pattern[str]:
        """An address on a skeleton: a sentence that opens with an opener and names an
        addressee within three more words, then an instruction within 240 characters; a
        sentence that names an addressee within its first four words followed by a colon
        (or a comma and a directive), then an instruction in that sentence; an automated
        addressee, a directive and an instruction within three words; or a phrase of
        ``alone``. A page that names a validator in prose does none of these."""
        who, instruction = rf"\b{_any(self.addressees)}s?\b", rf"\b{_any(self.instructions)}\b"
        start, directive = r"(?:^|(?<=[.!?\n]))[^\w\n]*", _any(self.directives)
        opened = rf"{start}{_any(self.openers)}(?:\s+\w+){{0,3}}?\s+{who}.{{0,240}}?{instruction}"
        named = rf"{start}(?:\w+[^\S\n]+){{0,3}}{who}\s*(?::|,\s*{directive})[^.!?\n]{{0,160}}?"
        told = rf"\b{_any(self.machine)}\s+{who}\W{{1,3}}{directive}(?:\s+\w+){{0,2}}?\s+"
        alone = rf"\b{_any(self.alone)}\b"
        return re.compile(rf"{opened}|{named}{instruction}|{told}{instruction}|{alone}", re.S)


def _any(phrases: tuple[str, ...]) -> str:
    """One of ``phrases``, each read as a skeleton, its words apart by any white space (a
    group that matches nothing when there are none)."""
    words = [r"\s+".join(map(re.escape, skeleton(p).split())) for p in phrases]
    return f"(?:{'|'.join(words) or '(?!)'})"
