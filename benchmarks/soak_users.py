"""The soak's users (``benchmarks/soak_users.yaml``), drawn with the soak's seed: what each
writes when they mean a kind of issue — several phrasings and languages, typos, long pages,
near-duplicates in other words, injections of several styles — and what they comment."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEXTS = Path(__file__).with_name("soak_users.yaml")
# what a kind of issue is written as: a page request, whoever means it and however it is judged
FAMILY = {
    "page_misjudged": "page",
    "page_disputed": "page",
    "page_flawed": "page",
    "near_duplicate": "page",
    "hostile_plain": "hostile",
    "hostile_hidden": "hostile",
}


@dataclass(frozen=True)
class Written:
    """An issue as its user wrote it, and what they meant."""

    kind: str
    title: str
    body: str
    author: str
    topic: str
    language: str
    of: int | None = None  # the issue a duplicate repeats
    style: str | None = None  # a hostile issue's injection


def normal(title: str) -> str:
    """A title as the pre-screen compares titles: case and punctuation do not count."""
    return re.sub(r"[\W_]+", " ", title.casefold()).strip()


class Users:
    """Every user of one world: one generator, seeded; titles never repeat by accident."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.data: dict[str, Any] = yaml.safe_load(TEXTS.read_text())
        self.titles: set[str] = set()

    def write(
        self,
        kind: str,
        author: str,
        topic: str,
        *,
        language: str | None = None,
        long: bool = False,
        style: str | None = None,
        of: tuple[int, Written] | None = None,
    ) -> Written:
        """What ``author`` files meaning ``kind``: a ``duplicate`` repeats ``of`` word for
        word, a ``near_duplicate`` asks for its page in other words."""
        if kind == "duplicate" and of is not None:
            number, earlier = of
            return Written(kind, earlier.title, earlier.body, author, earlier.topic, "", number)
        rng, family = self.rng, FAMILY.get(kind, kind)
        if kind == "near_duplicate" and of is not None:
            topic = of[1].topic
        language = language or rng.choice(self.data["languages"])
        title = self._title(family, language, topic)
        body = _filled(rng.choice(self._by_language("bodies", family, language)), topic)
        if long:
            long_data = self.data["long"]
            count = rng.randint(*long_data["paragraphs"])
            paragraphs = [" ".join(rng.choices(long_data["sentences"], k=5)) for _ in range(count)]
            body = "\n\n".join([body, *paragraphs])
        if family == "hostile":
            style = style or rng.choice(
                [
                    name
                    for name, i in self.data["injections"].items()
                    if i["hidden"] == (kind == "hostile_hidden")
                ]
            )
            body += self.data["injections"][style]["text"]
        elif rng.random() < self.data["typo_chance"]:
            title, body = self._typo(title, topic), self._typo(body, topic)
        self.titles.add(normal(title))
        return Written(kind, title, body, author, topic, language, of[0] if of else None, style)

    def edit(self, earlier: Written, topic: str) -> Written:
        """The author of a vague issue answers: it was a page about ``topic`` they wanted."""
        title = self._title("page", earlier.language, topic)
        self.titles.add(normal(title))
        body = _filled(
            self.rng.choice(self._by_language("bodies", "edit", earlier.language)), topic
        )
        return Written(
            "page", title, f"{earlier.body}\n\n{body}", earlier.author, topic, earlier.language
        )

    def comment(self, language: str, said: str | None) -> str:
        """A comment on a user's own open issue: a reply to what the factory ``said`` last,
        now and then an injection, else a nudge."""
        rng, data = self.rng, self.data
        if rng.random() < 0.1:
            return str(rng.choice(data["hostile_comments"]))
        if said and rng.random() < 0.5:
            first = said.strip().splitlines()[-1][:120]
            return f"> {first}\n\n{rng.choice(data['replies'])}"
        return str(rng.choice(data["comments"].get(language) or data["comments"]["en"]))

    def _by_language(self, part: str, family: str, language: str) -> list[str]:
        texts: dict[str, list[str]] = self.data[part][family]
        return texts.get(language) or texts["en"]

    def _title(self, family: str, language: str, topic: str) -> str:
        """A title in ``language`` not filed before (as the pre-screen compares titles)."""
        heads = list(self._by_language("titles", family, language))
        tails = list(self.data["tails"])
        self.rng.shuffle(heads)
        self.rng.shuffle(tails)
        for head in heads:
            for tail in tails:
                title = f"{_filled(head, topic)}{tail}"
                if normal(title) not in self.titles:
                    return title
        count = 2
        while normal(f"{_filled(heads[0], topic)} ({count})") in self.titles:
            count += 1
        return f"{_filled(heads[0], topic)} ({count})"

    def _typo(self, text: str, topic: str) -> str:
        """``text`` with two letters swapped in one or two words: never in the topic, a
        path or a quotation (a user mistypes their prose, not what they quote)."""
        quoted = {w for q in re.findall(r'"([^"]*)"', text) for w in q.split()}
        words = [
            m
            for m in re.finditer(r"[^\W\d_]{5,}", text)
            if topic.casefold() not in m.group().casefold()
            and m.group() not in quoted
            and text[max(m.start() - 1, 0)] != "/"
        ]
        for match in self.rng.sample(words, min(len(words), self.rng.randint(1, 2))):
            word = match.group()
            i = self.rng.randrange(1, len(word) - 2)
            swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            text = text[: match.start()] + swapped + text[match.end() :]
        return text


def _filled(text: str, topic: str) -> str:
    return text.replace("{topic}", topic).replace("{Topic}", topic.capitalize())
