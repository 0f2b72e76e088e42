"""Duplicate-caption grouping: the labelled set, the index against brute force, exact vs near."""

from __future__ import annotations

import itertools
import random

import pytest
from rapidfuzz.distance import Indel

from provcat.captions import parse_caption, tokens
from provcat.duplicates import (
    JACCARD_FLOOR,
    MIN_NEAR_TOKENS,
    NEAR_THRESHOLD,
    NearIndex,
    find_duplicates,
    group_keys,
    parse_all,
)

from .data.caption_pairs import labelled_pairs

PLOTTERS = (
    "'Plotters':Shishmakov, left, is pictured meeting Serbian agent Aleksandar Sindjelic in "
    "Belgrade at the time of the foiled assassination attempt"
)
CURLY = PLOTTERS.replace("'Plotters'", "\u2018Plotters\u2019")


@pytest.mark.parametrize(("a", "b", "same", "family"), labelled_pairs())
def test_labelled_pairs_at_the_threshold(a: str, b: str, same: bool, family: str) -> None:
    grouped = find_duplicates([a, b]) == [[0, 1]]
    assert grouped == same, family


def test_quote_variants_are_one_exact_key() -> None:
    keys, counts, _parsed = parse_all([PLOTTERS, CURLY, CURLY])
    assert len(set(keys)) == 1
    assert counts[keys[0]] == 3


def test_a_short_caption_is_not_a_copy_of_a_longer_one() -> None:
    assert find_duplicates(["Shishmakov, left, is pictured meeting", PLOTTERS]) == []


def test_near_group_records_similarity_and_lead() -> None:
    variant = PLOTTERS.replace("Sindjelic", "Sindjelich").replace("foiled ", "")
    _keys, counts, parsed = parse_all([PLOTTERS, PLOTTERS, variant])
    [group] = group_keys(counts, parsed)
    assert group.match == "near"
    assert group.keys[0] == parse_caption(PLOTTERS).key
    assert NEAR_THRESHOLD <= group.similarity < 1


def test_leader_clustering_does_not_drift() -> None:
    """Each step of the chain is near its neighbour, but the far end is not near the start."""
    sentence = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
    chain = [sentence]
    for i in range(6):
        changed = chain[-1].split()
        changed[i * 2] = "q" * len(changed[i * 2])
        chain.append(" ".join(changed))
    steps = [Indel.normalized_similarity(a, b) for a, b in itertools.pairwise(chain)]
    assert min(steps) >= NEAR_THRESHOLD
    assert Indel.normalized_similarity(chain[0], chain[-1]) < NEAR_THRESHOLD
    _keys, counts, parsed = parse_all(chain)
    groups = group_keys(counts, parsed)
    assert len(groups) > 1
    for group in groups:
        lead = parsed[group.keys[0]].body_key
        for key in group.keys:
            assert Indel.normalized_similarity(lead, parsed[key].body_key) >= NEAR_THRESHOLD


def _random_corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(60)]
    base = [" ".join(rng.choices(vocabulary, k=rng.randint(3, 14))) for _ in range(n // 2)]
    corpus = list(base)
    for text in base:
        words = text.split()
        if rng.random() < 0.5 and len(words) > 3:
            del words[rng.randrange(len(words))]
        if rng.random() < 0.5:
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        corpus.append(" ".join(words))
    return corpus


@pytest.mark.parametrize("seed", range(5))
def test_index_finds_exactly_what_brute_force_finds(seed: int) -> None:
    corpus = _random_corpus(seed, 120)
    index = NearIndex(threshold=0.8)
    for text in corpus:
        index.add(text)
    for query in corpus[:40]:
        q = frozenset(tokens(query))
        expected = set()
        for entry, text in enumerate(corpus):
            other = frozenset(tokens(text))
            if len(q) < MIN_NEAR_TOKENS or len(other) < MIN_NEAR_TOKENS:
                continue
            if len(q & other) / len(q | other) < JACCARD_FLOOR:
                continue
            if Indel.normalized_similarity(query, text) >= 0.8:
                expected.add(entry)
        assert {m.entry for m in index.matches(query)} == expected


def test_index_refuses_bad_thresholds() -> None:
    with pytest.raises(ValueError, match="threshold"):
        NearIndex(threshold=0)


def test_find_duplicates_groups_exact_and_near() -> None:
    texts = [
        PLOTTERS,
        "Deadly plans: The plot to kill then-Prime Minister Milo Djukanovic, pictured, was meant",
        CURLY,
        PLOTTERS.replace("Aleksandar", "Alexsandar"),
        "Something else entirely, printed once",
    ]
    assert find_duplicates(texts) == [[0, 2, 3]]
