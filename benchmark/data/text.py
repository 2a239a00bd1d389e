"""Sentences for the synthetic speech, from a small grammar (nothing fetched at run time).

The point is phonetic and prosodic variety (statements, questions, numbers, names, lists), not
meaning. Every draw comes from the caller's generator, so a seed fixes the text.
"""
from __future__ import annotations

import numpy as np

NAMES = ["Anna", "Peter", "Maria", "James", "Olivia", "Tom", "Grace", "Henry", "Lucy", "Oscar",
         "Emma", "David", "Sophie", "Daniel", "Alice", "Frank", "Clara", "Victor", "Nina", "Hugo"]
ADJECTIVES = ["small", "bright", "quiet", "heavy", "yellow", "ancient", "narrow", "gentle", "cold",
              "broken", "curious", "silver", "tired", "wooden", "famous", "empty", "green",
              "strange", "careful", "warm", "sudden", "hollow", "polite", "rough", "early", "lucky"]
NOUNS = ["dog", "teacher", "window", "garden", "letter", "river", "engine", "bottle", "village",
         "doctor", "basket", "mountain", "kitchen", "bicycle", "painter", "bridge", "market",
         "candle", "farmer", "station", "jacket", "orchard", "captain", "mirror", "harbour",
         "pencil", "blanket", "castle", "violin", "meadow", "sailor", "ladder", "museum", "coffee"]
PLACES = ["the old house", "the station", "the edge of town", "the library", "the harbour",
          "the top of the hill", "the kitchen table", "the main square", "the forest", "school",
          "the back garden", "the little shop", "the train", "the office", "the beach"]
VERBS_PAST = ["found", "painted", "carried", "opened", "watched", "repaired", "followed", "dropped",
              "borrowed", "cleaned", "noticed", "described", "moved", "counted", "bought", "washed",
              "visited", "forgot", "remembered", "sold", "packed", "lifted", "covered", "ordered"]
VERBS_BASE = ["find", "paint", "carry", "open", "watch", "repair", "follow", "borrow", "clean",
              "describe", "move", "count", "buy", "wash", "visit", "sell", "pack", "lift", "order"]
TIMES = ["yesterday", "this morning", "last week", "on Sunday", "after lunch", "at midnight",
         "before the rain", "every summer", "in the evening", "two days ago", "at half past nine"]
ADVERBS = ["slowly", "quickly", "quietly", "carefully", "happily", "suddenly", "twice", "again"]
CONNECTIVES = ["and", "but", "because", "so", "while", "although", "until", "when"]
NUMBERS = ["two", "three", "four", "five", "seven", "eleven", "twelve", "twenty", "forty-two",
           "a hundred", "ninety-nine", "six"]
PLURALS = ["apples", "chairs", "boxes", "letters", "stones", "tickets", "flowers", "coins", "books",
           "cups", "shirts", "keys"]


def _pick(rng: np.random.Generator, words: list[str]) -> str:
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return f"the {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)}"
    return f"the {_pick(rng, NOUNS)}"


def _clause(rng: np.random.Generator) -> str:
    kind = int(rng.integers(6))
    if kind == 0:
        return f"{_noun_phrase(rng)} {_pick(rng, VERBS_PAST)} {_noun_phrase(rng)}"
    if kind == 1:
        return (f"{_pick(rng, NAMES)} {_pick(rng, VERBS_PAST)} {_noun_phrase(rng)} "
                f"{_pick(rng, TIMES)}")
    if kind == 2:
        return (f"{_pick(rng, NAMES)} {_pick(rng, ADVERBS)} {_pick(rng, VERBS_PAST)} "
                f"{_pick(rng, NUMBERS)} {_pick(rng, PLURALS)}")
    if kind == 3:
        return f"we {_pick(rng, VERBS_PAST)} {_noun_phrase(rng)} near {_pick(rng, PLACES)}"
    if kind == 4:
        return f"{_noun_phrase(rng)} was {_pick(rng, ADJECTIVES)} {_pick(rng, TIMES)}"
    return f"{_pick(rng, NAMES)} walked to {_pick(rng, PLACES)} with {_noun_phrase(rng)}"


def _question(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return f"did {_pick(rng, NAMES)} {_pick(rng, VERBS_BASE)} {_noun_phrase(rng)}"
    return f"why was {_noun_phrase(rng)} so {_pick(rng, ADJECTIVES)} {_pick(rng, TIMES)}"


def sentence(rng: np.random.Generator, n_words: int) -> str:
    """A sentence of roughly `n_words` words (at least one clause)."""
    if rng.random() < 0.15:
        body = _question(rng)
        end = "?"
    else:
        body = _clause(rng)
        end = "." if rng.random() < 0.9 else "!"
    while len(body.split()) < n_words - 2:
        body += f"{',' if rng.random() < 0.3 else ''} {_pick(rng, CONNECTIVES)} {_clause(rng)}"
    return body[0].upper() + body[1:] + end
