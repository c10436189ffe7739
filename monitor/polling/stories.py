"""Which story an item belongs to: the same canonical URL, or a near-identical headline
from another feed within a window. The decisions live in identity.py; SQL in store/."""

from __future__ import annotations

from dataclasses import dataclass

from ..identity import TitleSignature, same_story, title_signature
from ..models import Item, ItemFacts
from ..store import StoryStore


@dataclass(frozen=True)
class StoryMatcher:
    store: StoryStore
    similarity: float  # [dedup] title_similarity; 0 turns headline matching off
    window: float  # [dedup] window

    def assign(self, feed: str, item: Item, facts: ItemFacts, now: float) -> int:
        """The story id for a new item, creating the story when it is new."""
        if facts.canonical:
            story = self.store.story_by_url(facts.canonical)
            if story is not None:
                return story
        signature = TitleSignature.decode(facts.signature)
        published = item.published.timestamp() if item.published else None
        if self.similarity > 0:
            around = published if published is not None else now
            for story, title, stored in self.store.story_candidates(signature.words, feed, around, self.window):
                # A story stored before headline signatures were kept has none: read its headline.
                other = TitleSignature.decode(stored) if stored is not None else title_signature(title)
                if same_story(signature, other, self.similarity):
                    return story
        return self.store.new_story(facts.canonical, item.title, published, signature.words, now, facts.signature)
