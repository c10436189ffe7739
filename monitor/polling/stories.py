"""Which story an item belongs to: the same canonical URL, or a near-identical headline
from another feed within a window. The decisions live in identity.py; SQL in store/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..identity import MIN_SHARED_WORDS, TitleSignature, same_story, title_signature
from ..models import Item, ItemFacts
from ..store import StoryStore


class TermRarity:
    """How many headlines this process has seen each term in: which terms of a headline are
    the rarest, so that looking up its candidates reads the shortest posting lists. Only cost
    depends on it, never which stories are found (StoryMatcher.probe). Bounded: past `limit`
    terms every count is halved and those at zero forgotten."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._seen: Counter[str] = Counter()

    def saw(self, terms: Iterable[str]) -> None:
        self._seen.update(terms)
        if len(self._seen) > self.limit:
            self._seen = Counter({term: n // 2 for term, n in self._seen.items() if n >= 2})

    def rarest(self, terms: Iterable[str], count: int) -> list[str]:
        """The `count` rarest of `terms`; among as rare, the longest (a long word is seldom common)."""
        return sorted(terms, key=lambda t: (self._seen[t], -len(t), t))[:count]


@dataclass(frozen=True)
class StoryMatcher:
    store: StoryStore
    similarity: float  # [dedup] title_similarity; 0 turns headline matching off
    window: float  # [dedup] window
    rarity: TermRarity = field(default_factory=TermRarity)

    def assign(self, feed: str, item: Item, facts: ItemFacts, now: float) -> int:
        """The story id for a new item, creating the story when it is new."""
        return self.assign_many(feed, [(item, facts)], now)[0]

    def assign_many(self, feed: str, items: Sequence[tuple[Item, ItemFacts]], now: float) -> list[int]:
        """The story ids for new items of one feed, in order, creating the stories that are new,
        in a few statements. No two of them may share a canonical URL (the second would join
        the first's story: Ingest assigns such an item after the first is stored)."""
        by_url = self.store.stories_by_urls(f.canonical for _, f in items if f.canonical)
        stories: list[int | None] = [by_url.get(f.canonical) if f.canonical else None for _, f in items]
        signatures = [TitleSignature.decode(f.signature) for _, f in items]
        dates = [item.published.timestamp() if item.published else None for item, _ in items]
        if self.similarity > 0:
            self._match_headlines(feed, stories, signatures, dates, now)
        fresh = [n for n, story in enumerate(stories) if story is None]
        created = self.store.new_stories(
            [
                (items[n][1].canonical, items[n][0].title, dates[n], signatures[n].words, items[n][1].signature)
                for n in fresh
            ],
            now,
        )
        for n, story in zip(fresh, created, strict=True):
            stories[n] = story
        for signature in signatures:
            self.rarity.saw(signature.words)
        return [story for story in stories if story is not None]

    def _match_headlines(
        self,
        feed: str,
        stories: list[int | None],
        signatures: list[TitleSignature],
        dates: list[float | None],
        now: float,
    ) -> None:
        """Fill in `stories` for the items no URL placed, from near-identical headlines of other feeds."""
        asking = [n for n, story in enumerate(stories) if story is None]
        around = [now if date is None else date for date in dates]
        candidates = self.store.story_candidates_many(
            [(signatures[n].words, self.probe(signatures[n].words), around[n]) for n in asking],
            feed,
            self.window,
            MIN_SHARED_WORDS,
        )
        # A story an item of this feed joins has an item of this feed from then on: no later one joins it.
        joined = {story for story in stories if story is not None}
        for n, found in zip(asking, candidates, strict=True):
            for story, title, stored in found:
                if story in joined:
                    continue
                # A story stored before headline signatures were kept has none: read its headline.
                other = TitleSignature.decode(stored) if stored is not None else title_signature(title)
                if same_story(signatures[n], other, self.similarity):
                    stories[n] = story
                    joined.add(story)
                    break

    def probe(self, words: frozenset[str]) -> list[str]:
        """Terms of which every story sharing MIN_SHARED_WORDS of `words` has at least one: any
        len(words) - MIN_SHARED_WORDS + 1 of them (a story lacking them all would share at most
        MIN_SHARED_WORDS - 1). The rarest, whose posting lists are the shortest."""
        return self.rarity.rarest(words, len(words) - MIN_SHARED_WORDS + 1)
