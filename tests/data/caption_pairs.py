"""A labelled set of caption pairs for choosing and checking the near-duplicate threshold.

Invented captions in the style of scraped news (none copied from a real article). Positives are
made from each base caption by code, one edit family at a time, so every family is measured:
spelling (one or two letters of a name changed), a dropped word, a changed or added label, a
changed or added credit tail, and typography (quotes, dashes, spacing, case: these are exact).
Negatives are written by hand: captions that share a template, a topic or most of their words
but say something else, and short captions contained in longer ones.
"""

from __future__ import annotations

import random
import re

BASES = [
    "Accused: Marek Dolansky, left, and Pavel Ostrov, right, are two businessmen charged over a bribery scheme at the port authority",
    "Flooded: Residents of Hallbridge wade through water after the river burst its banks on Sunday night",
    "Tense meeting: Foreign minister Ilse Varga, pictured, arrives for talks with her counterpart in Geneva",
    "Rescuers search the rubble of the collapsed school in the northern town of Kesra after the earthquake",
    "Under fire: Coach Tomas Brevik, centre, watches from the touchline as his side lose again at home",
    "Protesters gather outside parliament in Valmora demanding the resignation of the interior minister",
    "'Masterminds': Lena Korhonen, left, is pictured meeting the smuggler Ardit Kola in Tirana weeks before the raid",
    "The former mayor Anton Reisch leaves court in Linz after being cleared of all charges on Thursday",
    "Firefighters battle the blaze that tore through a warehouse in the docklands district early on Monday",
    "Breakthrough: Scientists at the Nordvik institute, pictured, say the new vaccine could be ready within a year",
    "Deadly crossing: A crowded boat carrying migrants is intercepted by coastguards off the island of Castel",
    "Campaign trail: Candidate Rosa Almeida greets supporters at a rally in the port city of Setubal",
    "Grief: Relatives of the victims lay flowers at the memorial outside the station in Ostend",
    "Caught on camera: CCTV footage shows the suspect, right, entering the jewellery shop minutes before the robbery",
    "The striker Jonas Pelt celebrates his second goal with team-mates during the cup final in Rotterdam",
    "Kept in the dark: Villagers in Marrow Cross have been without power for six days since the storm",
    "Defiant: Union leader Gregor Haim, second left, addresses workers outside the shipyard gates in Gdansk",
    "Smoke rises over the industrial zone on the outskirts of the city after overnight shelling",
    "Spy row: The diplomat Viktor Lasko, pictured, was expelled after being accused of recruiting an informant",
    "Queue for hours: Voters wait outside a polling station in the capital as turnout reaches a record high",
    "Plans: The new bridge, which will link the two halves of the old town, is due to open next spring",
    "Heroes: Paramedics Sara Quint and Ben Arlow were honoured for their work during the tower block fire",
    "Lost: The hikers Ella Brandt, left, and Moritz Feld, right, went missing on the mountain last week",
    "The cargo ship Aurora Bay ran aground on a sandbank near the harbour entrance in high winds",
    "Outrage: Parents protest outside the school board offices over plans to close three rural schools",
]

FIRST_NAMES_SWAP = {"Dolansky": "Dolanski", "Varga": "Vargha", "Brevik": "Brevick", "Kola": "Kolla",
                    "Reisch": "Reish", "Almeida": "Almeyda", "Pelt": "Peldt", "Haim": "Hajm",
                    "Lasko": "Laszko", "Quint": "Quinnt", "Brandt": "Brand", "Korhonen": "Korhenen",
                    "Ostrov": "Ostrof", "Feld": "Felt", "Kesra": "Kesrah", "Hallbridge": "Halbridge",
                    "Valmora": "Valmorra", "Nordvik": "Nordwik", "Castel": "Castell", "Setubal": "Setuval",
                    "Ostend": "Oostend", "Marrow": "Marow", "Gdansk": "Gdańsk", "Aurora": "Aurorra"}

# Hand-written negatives: alike in form, different in what they say.
NEGATIVES = [
    ("Accused: Marek Dolansky, left, and Pavel Ostrov, right, are two businessmen charged over a bribery scheme at the port authority",
     "Accused: Irena Malik, left, and Stefan Rudd, right, are two officials charged over a fraud at the city council"),
    ("Flooded: Residents of Hallbridge wade through water after the river burst its banks on Sunday night",
     "Flooded: Shopkeepers in Lower Denby clear out mud after the canal overflowed on Tuesday morning"),
    ("Protesters gather outside parliament in Valmora demanding the resignation of the interior minister",
     "Farmers gather outside the ministry in Valmora demanding compensation for the failed harvest"),
    ("Firefighters battle the blaze that tore through a warehouse in the docklands district early on Monday",
     "Firefighters inspect the shell of a bus depot gutted by fire in the northern suburbs on Friday"),
    ("Grief: Relatives of the victims lay flowers at the memorial outside the station in Ostend",
     "Grief: Classmates of the boy light candles outside his school in Bruges"),
    ("Lost: The hikers Ella Brandt, left, and Moritz Feld, right, went missing on the mountain last week",
     "Found: The climbers Ada Nowak, left, and Lukas Berg, right, were rescued from the glacier on Monday"),
    ("Smoke rises over the industrial zone on the outskirts of the city after overnight shelling",
     "Smoke rises over the harbour after a fuel tanker exploded at the terminal"),
    ("Queue for hours: Voters wait outside a polling station in the capital as turnout reaches a record high",
     "Queue for hours: Shoppers wait outside a department store in the capital as the sales begin"),
    ("Tense meeting: Foreign minister Ilse Varga, pictured, arrives for talks with her counterpart in Geneva",
     "Tense meeting: Defence minister Paul Aubert, pictured, leaves talks with his counterpart in Vienna"),
    ("The striker Jonas Pelt celebrates his second goal with team-mates during the cup final in Rotterdam",
     "The goalkeeper Ivo Maric saves a penalty during the league match in Split"),
    # Short captions contained in longer ones are not copies of them.
    ("Marek Dolansky, left",
     "Accused: Marek Dolansky, left, and Pavel Ostrov, right, are two businessmen charged over a bribery scheme at the port authority"),
    ("Rescuers search the rubble",
     "Rescuers search the rubble of the collapsed school in the northern town of Kesra after the earthquake"),
    ("Smoke rises over the industrial zone",
     "Smoke rises over the industrial zone on the outskirts of the city after overnight shelling"),
    ("Pictured: the bridge", "Plans: The new bridge, which will link the two halves of the old town, is due to open next spring"),
    ("Voters wait outside a polling station in the capital",
     "Queue for hours: Voters wait outside a polling station in the capital as turnout reaches a record high"),
    # Same template, one fact changed, short caption: different captions.
    ("Villagers without power in Marrow Cross", "Villagers without water in Hexley"),
    ("The ship ran aground near the harbour", "The ferry sank off the headland"),
]

CREDITS = ["(Photo: Reuters)", "Credit: AFP", "(Picture: Sky News)", "Photo: Getty Images"]
LABELS = ["Pictured:", "Revealed:", "'Shocking':", "Exclusive:"]


def _spelling(text: str, rng: random.Random) -> str | None:
    names = [name for name in FIRST_NAMES_SWAP if re.search(rf"\b{name}\b", text)]
    if not names:
        return None
    name = rng.choice(names)
    return re.sub(rf"\b{name}\b", FIRST_NAMES_SWAP[name], text, count=1)


def _dropped_word(text: str, rng: random.Random) -> str | None:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words[2:-1], start=2) if w.isalpha() and w.islower()]
    if not candidates:
        return None
    del words[rng.choice(candidates)]
    return " ".join(words)


def _label_changed(text: str, rng: random.Random) -> str | None:
    match = re.match(r"^'?[A-Z][\w ']{0,30}'?:\s*", text)
    body = text[match.end():] if match else text
    return f"{rng.choice(LABELS)} {body[0].upper()}{body[1:]}"


def _credit_added(text: str, rng: random.Random) -> str | None:
    return f"{text} {rng.choice(CREDITS)}"


def _typography(text: str, rng: random.Random) -> str | None:
    out = text.replace("'", "\u2018", 1).replace("'", "\u2019", 1).replace(" - ", " \u2013 ")
    out = out.replace(", ", " , ", 1) if rng.random() < 0.5 else out.replace(" ", "  ", 2)
    return out.upper() if rng.random() < 0.2 else out


FAMILIES = {
    "spelling": _spelling,
    "dropped_word": _dropped_word,
    "label_changed": _label_changed,
    "credit_added": _credit_added,
    "typography": _typography,
}


REPLACEMENT_NAMES = ["Novak", "Ferreira", "Lindqvist", "Okafor", "Castellanos", "Weber"]


def _name_replaced(text: str, rng: random.Random) -> str | None:
    names = [name for name in FIRST_NAMES_SWAP if re.search(rf"\b{name}\b", text)]
    if not names:
        return None
    return re.sub(rf"\b{rng.choice(names)}\b", rng.choice(REPLACEMENT_NAMES), text, count=1)


def _number_changed(text: str, rng: random.Random) -> tuple[str, str]:
    return f"{text} in {rng.randint(1990, 2010)}", f"{text} in {rng.randint(2011, 2025)}"


def labelled_pairs(seed: int = 2017) -> list[tuple[str, str, bool, str]]:
    """(a, b, same caption?, family) for every base and edit family, and every negative."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str, bool, str]] = []
    for base in BASES:
        for family, edit in FAMILIES.items():
            edited = edit(base, rng)
            if edited is not None and edited != base:
                pairs.append((base, edited, True, family))
        twice = _spelling(_dropped_word(base, rng) or base, rng)
        if twice is not None and twice != base:
            pairs.append((base, twice, True, "spelling+dropped_word"))
    pairs.extend((a, b, False, "negative") for a, b in NEGATIVES)
    # Generated negatives: the same caption about someone else, or about another year.
    for base in BASES:
        other = _name_replaced(base, rng)
        if other is not None:
            pairs.append((base, other, False, "negative:name_replaced"))
        first, second = _number_changed(base, rng)
        pairs.append((first, second, False, "negative:year_changed"))
    return pairs
