"""Duplicate-caption grouping: the labelled set, the index against brute force, exact vs near."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import Indel

from provcat import duplicates
from provcat.captions import parse_caption, tokens
from provcat.duplicates import (
    MAX_DROPPED,
    MIN_NEAR_TOKENS,
    NEAR_THRESHOLD,
    all_apart,
    are_near,
    find_duplicates,
    group_keys,
    near_keys,
    parse_all,
    word_edits,
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
    parsed = parse_all([PLOTTERS, CURLY, CURLY])
    assert len(set(parsed.keys)) == 1
    assert parsed.counts[parsed.keys[0]] == 3
    assert parsed.raw[parsed.keys[0]] == PLOTTERS


def test_a_short_caption_is_not_a_copy_of_a_longer_one() -> None:
    assert find_duplicates(["Shishmakov, left, is pictured meeting", PLOTTERS]) == []


def test_near_group_records_similarity_and_lead() -> None:
    variant = PLOTTERS.replace("Sindjelic", "Sindjelich").replace("foiled ", "")
    parsed = parse_all([PLOTTERS, PLOTTERS, variant])
    [group] = group_keys(parsed.counts, parsed.bodies)
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
    parsed = parse_all(chain)
    groups = group_keys(parsed.counts, parsed.bodies)
    assert len(groups) > 1
    for group in groups:
        lead = parsed.bodies[group.keys[0]]
        for key in group.keys:
            assert Indel.normalized_similarity(lead, parsed.bodies[key]) >= NEAR_THRESHOLD


def _random_corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices("abcdefghij", k=rng.randint(3, 7))) for _ in range(80)]
    base = [" ".join(rng.choices(vocabulary, k=rng.randint(3, 14))) for _ in range(n // 2)]
    corpus = list(base)
    for text in base:
        words = text.split()
        if rng.random() < 0.5 and len(words) > 3:
            del words[rng.randrange(len(words))]
        if rng.random() < 0.5:
            i = rng.randrange(len(words))
            words[i] = words[i][:-1] + "z" if rng.random() < 0.7 else rng.choice(vocabulary)
        corpus.append(" ".join(words))
    return corpus


def _near_by_the_rule(query: str, text: str, threshold: float) -> bool:
    """The module's rule, applied to two bodies directly."""
    q, other = tokens(query), tokens(text)
    if len(q) < MIN_NEAR_TOKENS or len(other) < MIN_NEAR_TOKENS:
        return False
    if Indel.normalized_similarity(query, text) < threshold:
        return False
    return word_edits(q, other).near(min(len(set(q)), len(set(other))))


@pytest.mark.parametrize("seed", range(5))
def test_a_query_finds_exactly_what_brute_force_finds(seed: int) -> None:
    corpus = _random_corpus(seed, 160)
    bodies = {f"key {i}": text for i, text in enumerate(corpus)}
    found_any = 0
    for query in corpus[:60]:
        expected = {key for key, text in bodies.items() if _near_by_the_rule(query, text, 0.8)}
        found = near_keys(query, bodies, threshold=0.8)
        assert set(found) == expected
        assert all(found[key] == Indel.normalized_similarity(query, bodies[key]) for key in found)
        found_any += len(found) > 1
    assert found_any > 5  # the corpus does hold near pairs, so the comparison means something


@pytest.mark.parametrize(
    ("a", "b", "dropped", "respelt", "replaced"),
    [
        (
            "shishmakov meets sindjelic in belgrade",
            "shishmakov meets sindjelich in belgrade",
            0,
            1,
            0,
        ),
        ("shishmakov meets sindjelic in belgrade", "shishmakov meets in belgrade", 1, 0, 0),
        ("shishmakov meets sindjelic in belgrade", "popov meets sindjelic in belgrade", 0, 0, 1),
        ("the attack of 2016 in belgrade", "the attack of 2017 in belgrade", 0, 0, 1),
        ("police in leeds", "police on leeds", 0, 0, 1),
    ],
)
def test_word_edits(a: str, b: str, dropped: int, respelt: int, replaced: int) -> None:
    edits = word_edits(a.split(), b.split())
    assert (edits.dropped, edits.respelt, edits.replaced) == (dropped, respelt, replaced)


def test_a_changed_name_or_number_is_a_different_caption() -> None:
    assert not are_near(PLOTTERS, PLOTTERS.replace("Aleksandar Sindjelic", "Boris Ivanov"))
    dated = "Rescuers search the rubble of the school in Kesra after the earthquake of 2016"
    assert not are_near(dated, dated.replace("2016", "2017"))
    assert are_near(dated, dated.replace("Kesra", "Kesrah"))
    assert MAX_DROPPED == 2


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        group_keys(Counter(["a b c"]), {"a b c": "a b c"}, threshold=0)
    with pytest.raises(ValueError, match="threshold"):
        near_keys("a b c", {}, threshold=1.5)


def test_find_duplicates_groups_exact_and_near() -> None:
    texts = [
        PLOTTERS,
        "Deadly plans: The plot to kill then-Prime Minister Milo Djukanovic, pictured, was meant",
        CURLY,
        PLOTTERS.replace("Aleksandar", "Alexsandar"),
        "Something else entirely, printed once",
    ]
    assert find_duplicates(texts) == [[0, 2, 3]]
    assert find_duplicates(texts, workers=2) == [[0, 2, 3]]


@given(
    st.lists(
        st.sampled_from(["ship", "aurora", "aurorra", "bay", "the", "cargo", "2016"]), max_size=8
    ),
    st.lists(
        st.sampled_from(["ship", "aurora", "aurorra", "bay", "the", "cargo", "2016"]), max_size=8
    ),
)
def test_word_edits_are_symmetric(a: list[str], b: list[str]) -> None:
    assert word_edits(a, b) == word_edits(b, a)
    if a == b:
        assert word_edits(a, b) == word_edits([], [])


def _leaders_by_brute_force(
    counts: Counter[str], bodies: dict[str, str], threshold: float
) -> list[tuple[tuple[str, ...], tuple[float, ...]]]:
    """Leader clustering by the rule alone: each key, most printed first, compared with every
    leader so far; it joins the most similar it is near (the first of equals)."""
    members: list[list[tuple[str, float]]] = []
    for key in sorted(counts, key=lambda k: (-counts[k], -len(k), k)):
        best: tuple[float, int] | None = None
        for number, group in enumerate(members):
            lead = bodies[group[0][0]]
            if _near_by_the_rule(bodies[key], lead, threshold):
                similarity = Indel.normalized_similarity(bodies[key], lead)
                if best is None or similarity > best[0]:
                    best = (similarity, number)
        if best is None:
            members.append([(key, 1.0)])
        else:
            members[best[1]].append((key, best[0]))
    return [(tuple(k for k, _ in m), tuple(s for _, s in m)) for m in members]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("in_pieces", [False, True], ids=["at-once", "in-pieces"])
def test_groups_are_those_comparing_with_every_leader_makes(
    seed: int, in_pieces: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """group_keys makes every key's candidates at once, as arrays; what it groups is what
    comparing each key with every leader so far groups, ties and all, also with its arrays
    made a few keys, rows and candidate pairs at a time."""
    if in_pieces:
        monkeypatch.setattr(duplicates, "_KEYS_AT_ONCE", 7)
        monkeypatch.setattr(duplicates, "_ROWS_AT_ONCE", 40)
        monkeypatch.setattr(duplicates, "_PAIRS_AT_ONCE", 25)
    rng = random.Random(seed)
    corpus = _random_corpus(seed, 400)
    corpus += rng.sample(corpus, 80)  # printed again: counts differ, so the order matters
    crowd = ["harbour", "wall", "storm", "night", "ferry", "crew"]
    corpus += [" ".join(rng.sample(crowd, len(crowd))) for _ in range(60)]  # one word set
    corpus += ["a b", "pictured", ""]  # too short to be near anything
    # A key near two leaders equally joins the first; one near only a follower leads.
    tie = "marlow harbour keeper found the wrecked trawler yesterday"
    first = tie.replace("marlow", "marlew").replace("harbour", "harbeur")
    second = tie.replace("trawler", "trawlar").replace("yesterday", "yesterdey")
    corpus += [first] * 4 + [second] * 3 + [tie]
    chain = ["alpha", "bravo", "charlie", "delta", "ernest"]
    chain += ["foxtrot", "golfer", "hotel", "indiana", "juliet"]
    for step in range(5):  # each link one more word respelt: the far end is near no leader
        corpus += [" ".join(chain)] * (6 - step)
        chain[step * 2] = chain[step * 2][:-1] + "z"
    parsed = parse_all(corpus)
    groups = group_keys(parsed.counts, parsed.bodies, threshold=0.8)
    got = [(g.keys, g.similarities) for g in groups]
    assert got == _leaders_by_brute_force(parsed.counts, parsed.bodies, 0.8)
    assert sum(len(g.keys) > 1 for g in groups) > 10


def test_no_keys_make_no_groups() -> None:
    assert group_keys(Counter(), {}) == []
    parsed = parse_all(["x", "x", "y z"])
    assert [g.keys for g in group_keys(parsed.counts, parsed.bodies)] == [("x",), ("y z",)]


def test_captions_all_apart_are_each_a_group_of_their_own() -> None:
    """all_apart (which lets a photo's few captions skip the grouping's index) says so only
    when grouping would leave every key alone; sets of near and distant captions both come."""
    rng = random.Random(5)
    pairs = labelled_pairs()
    apart = joined = 0
    for _ in range(300):
        chosen = []
        for a, b, _near, _family in rng.sample(pairs, rng.randrange(1, 4)):
            chosen += [a, b] if rng.random() < 0.7 else [a]
        parsed = parse_all(chosen)
        groups = group_keys(parsed.counts, parsed.bodies)
        if all_apart(list(parsed.bodies.values())):
            apart += 1
            assert len(groups) == len(parsed.bodies), chosen
        else:
            joined += len(groups) < len(parsed.bodies)
    assert apart >= 30
    assert joined >= 30
