"""An invented, labelled corpus of Daily-Mail-style plain-text scrapes for caption extraction.

SYNTHETIC: every article here is made up by code from small word banks; nothing is copied from
a real article, and no real person or event is meant. The articles imitate what copy-pasted
tabloid pages look like as plain text (headline, bullet summary, byline, "Scroll down for
video", "Advertisement", share counts, captions printed as lines of their own among body
lines, a "Read more at ..." trailer) and each carries its truth: every caption occurrence
with the pattern it was written to exercise, the title, the publisher and the url.

There are two splits built from **different** word banks and templates:

- ``dev``: what the plain-text rules were developed and tuned against;
- ``held-out``: other sentence templates, labels, names and places, written before the rules
  were measured on them and not used to tune them.

Both are drawn from a seeded ``random.Random``, so the same call always gives the same
articles. Run ``python tests/data/news_corpus.py OUT_DIR`` to write them out as files.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Caption patterns, each a way captions are printed in real scrapes.
PATTERNS: tuple[str, ...] = (
    "plain",  # an unlabelled sentence without a final full stop, on a line of its own
    "plain-stop",  # the same, ending with a full stop (rare, hard)
    "labelled",  # "Terrified: ..." on one line
    "label-own-line",  # "Terrified:" on one line, the caption on the next
    "glued",  # two labelled captions glued on one line
    "restated",  # a caption whose words a body sentence of the article repeats
    "repeated",  # one caption printed twice
    "credit",  # a caption ending in a credit
    "first-line",  # a caption label as the very first line, before the headline
    "flattened",  # a caption inside an article flattened to one paragraph
)

DEV = "dev"
HELD_OUT = "held-out"
SECTIONS = ("news", "sport", "showbiz", "science", "travel", "money")


@dataclass(frozen=True)
class LabelledCaption:
    """One true caption occurrence: its text as printed (label joined on) and its pattern."""

    text: str
    pattern: str


@dataclass(frozen=True)
class SyntheticArticle:
    """One invented article and its truth."""

    name: str
    split: str
    section: str
    text: str
    title: str | None
    publisher: str | None
    url: str | None
    captions: tuple[LabelledCaption, ...]
    #: Lines that are not captions, each with what it is ("body", "bullet", "section-label",
    #: "quote", "crosshead", "repeated-body", "boilerplate", "restated": the body sentence
    #: that a caption restates), so a wrong caption can be put down to what it really was.
    non_captions: tuple[LabelledCaption, ...]
    #: The whole article is one paragraph: the reader should warn and find nothing.
    flattened: bool


@dataclass(frozen=True)
class Bank:
    """The words and templates one split is written from."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    places: tuple[str, ...]
    teams: tuple[str, ...]
    labels: tuple[str, ...]
    section_labels: tuple[str, ...]
    crossheads: tuple[str, ...]
    captions: dict[str, tuple[str, ...]]
    body: dict[str, tuple[str, ...]]
    quotes: tuple[str, ...]
    bullets: tuple[str, ...]
    headlines: dict[str, tuple[str, ...]]
    credits: tuple[str, ...]
    #: Subheads of six words or more, without a full stop: they look like captions.
    long_crossheads: tuple[str, ...]
    #: What embedded social media posts leave behind in a copy-paste ("{handle}" is filled).
    embeds: tuple[str, ...]


_DEV = Bank(
    first=("Zoe", "Harry", "Priya", "Callum", "Megan", "Declan", "Aisha", "Rory", "Imogen", "Kai"),
    last=("Hartley", "Bramwell", "Okafor", "Sutcliffe", "Delaney", "Marsh", "Kowalski", "Reid"),
    places=("Bexhill", "Stockport", "Truro", "Harrogate", "Wrexham", "Margate", "Dundee", "Luton"),
    teams=("Rovers", "Albion", "United", "City", "Wanderers", "Athletic"),
    labels=(
        "Terrified",
        "Caught on camera",
        "Dressed to impress",
        "Fighter ace",
        "Heartbroken",
        "Devastated",
        "Loved-up",
        "Pictured",
        "Happier times",
        "Glowing",
        "Tragic",
        "Shock",
        "On the mend",
        "Proud",
        "Back in action",
        "Fury",
    ),
    section_labels=(
        "EXPERT VERDICT",
        "WHAT HAPPENS NEXT?",
        "KEY FACTS",
        "THE TIMELINE",
        "HOW IT UNFOLDED",
    ),
    crossheads=(
        "A night to remember",
        "Questions remain",
        "Family tribute",
        "What the rules say",
        "Fans react",
    ),
    captions={
        "news": (
            "Police officers stand guard outside the house in {place} on {day}",
            "{name}, {age}, pictured with her husband {name2} at their home in {place}",
            "Forensic teams comb the scene in {place} after the alarm was raised",
            "{name} (pictured) was last seen leaving a pub in {place} on {day} night",
            "Firefighters battle the blaze at the warehouse in {place} in the early hours",
            "Neighbours leave flowers at the scene in {place} as tributes pour in",
            "{name}, left, and {name2}, right, outside {place} Crown Court on {day}",
        ),
        "sport": (
            "{name} celebrates after {team2} scored a stoppage time own goal",
            "{name} (pictured) lifts the trophy in front of the {team} fans at {place}",
            "{name}, left, challenges {name2} for the ball during the first half",
            "The {team} bench erupts as the winner goes in at the death",
            "{name} looks dejected after missing a penalty against {team2} on {day}",
            "{team} players mob {name} after his second goal of the afternoon",
        ),
        "showbiz": (
            "{name} cuts a glamorous figure in a plunging gown at the premiere in {place}",
            "{name}, {age}, showcases her toned figure on the beach in {place}",
            "{name} and {name2} put on a loved-up display as they leave dinner in {place}",
            "{name} (pictured) flashes a smile as she arrives at the awards on {day}",
            "{name} steps out in a sequinned mini dress for her birthday bash",
            "{name}, pictured with co-star {name2}, poses on the red carpet",
        ),
        "science": (
            "An artist's impression shows the ancient reptile hunting in shallow seas",
            "{name}, pictured in her laboratory in {place}, led the research team",
            "The fossil, pictured, was unearthed by walkers on the beach near {place}",
            "Researchers examine samples taken from the glacier near {place}",
            "A satellite image shows the storm system moving towards {place}",
        ),
        "travel": (
            "The sweeping beach at {place} is a short walk from the hotel",
            "{name} (pictured) admires the view from the summit above {place}",
            "Visitors queue outside the castle gates in {place} on a sunny afternoon",
        ),
        "money": (
            "{name}, {age}, pictured, says the price rise has left her family struggling",
            "Shoppers browse the aisles of a supermarket in {place} this week",
            "A branch of the bank in {place}, which is among those set to close",
        ),
    },
    body={
        "news": (
            "{name}, {age}, was taken to hospital in {place} on {day} with serious injuries.",
            "Police said the investigation was continuing and urged witnesses to come forward.",
            "Neighbours described hearing shouting shortly before the emergency services arrived.",
            "A man, {age}, has been arrested on suspicion of murder and remains in custody.",
            "The family of {name} said they were devastated by the news and asked for privacy.",
            "Officers cordoned off the street for much of the day while inquiries took place.",
            "The council confirmed that the road would remain closed until further notice.",
            "{name2} told reporters that the community had been left shaken by the attack.",
        ),
        "sport": (
            "{team} had looked set for a draw until the dramatic late intervention at {place}.",
            "The result leaves {team} three points clear at the top of the table.",
            "{name} had earlier hit the post with a curling effort from 25 yards.",
            "The manager said afterwards that his side had deserved the win.",
            "{team2} will now face a nervous wait before next week's fixture.",
            "A crowd of more than 30,000 watched the match on a bitterly cold afternoon.",
        ),
        "showbiz": (
            "{name}, {age}, was joined by a host of famous faces at the event in {place}.",
            "The star recently opened up about her struggles with fame in an interview.",
            "She completed her look with a pair of strappy heels and a clutch bag.",
            "{name} and {name2} have been dating since they met on set last year.",
            "A source close to the couple said they were happier than ever.",
            "Her new series is due to air on Sunday evenings later this year.",
        ),
        "science": (
            "The study, published in a leading journal, examined more than 2,000 samples.",
            "Researchers said the findings could change how the disease is treated.",
            "{name}, who led the work at the university in {place}, called the result striking.",
            "The creature is thought to have lived around 150 million years ago.",
            "Further tests are planned next year to confirm the early results.",
            "Experts not involved in the research said the work was promising but limited.",
        ),
        "travel": (
            "The hotel sits on a quiet stretch of coast a short drive from {place}.",
            "Rooms start from around £120 a night including breakfast.",
            "The town was packed with visitors during the summer festival.",
            "{name} said the trip had been the holiday of a lifetime.",
        ),
        "money": (
            "Prices rose by 4.2 per cent in the year to March, official figures show.",
            "The bank said the closures reflected a shift to online banking.",
            "{name}, {age}, from {place}, said her monthly bills had almost doubled.",
            "Analysts expect interest rates to stay on hold until the autumn.",
        ),
    },
    quotes=(
        "'It was the worst night of my life'",
        "'We will never forget him'",
        "'I just want to say thank you to everyone'",
        '"He was a true gentleman"',
    ),
    bullets=(
        "{name}, {age}, was found at a property in {place} on {day}",
        "Police have launched an appeal for witnesses",
        "Scroll down for the full story and pictures",
        "{team} climb to the top of the table after the win",
        "The star was joined by {name2} at the glitzy bash",
        "Scientists say the discovery rewrites the history books",
    ),
    headlines={
        "news": (
            "Family's tribute to {name} after tragedy in {place}",
            "Police hunt for driver after crash in {place} leaves two injured",
        ),
        "sport": (
            "{team} snatch dramatic late win over {team2} at {place}",
            "{name} double fires {team} into the final",
        ),
        "showbiz": (
            "{name} dazzles in daring gown at {place} premiere",
            "{name} and {name2} enjoy romantic getaway in {place}",
        ),
        "science": (
            "Fossil found near {place} is oldest of its kind, scientists say",
            "Scientists discover new species in waters off {place}",
        ),
        "travel": ("Why {place} is the best-kept secret on the coast",),
        "money": ("Bills to rise again as families in {place} feel the squeeze",),
    },
    credits=("(Image: Getty)", "Credit: Reuters", "(Photo: PA)", "Picture: Solent News"),
    long_crossheads=(
        "Why the warnings were ignored for so long",
        "The moment everything changed for the family",
        "How the drama unfolded on the final day",
        "What the experts make of the new findings",
    ),
    embeds=(
        "\u2014 {name} (@{handle}) June 3, 2024",
        "A post shared by {name} (@{handle})",
        "pic.twitter.com/{handle}Q7x",
    ),
)

_HELD_OUT = Bank(
    first=("Ellie", "Tomasz", "Grace", "Nathaniel", "Freya", "Omar", "Lucy", "Gethin", "Maya"),
    last=("Pennington", "Achebe", "Whitlow", "Castellano", "Fairbairn", "Nguyen", "Lomax"),
    places=("Scarborough", "Aberystwyth", "Grimsby", "Kendal", "Penzance", "Inverness", "Ely"),
    teams=("Town", "Orient", "Rangers", "County", "Villa", "Argyle"),
    labels=(
        "Ordeal",
        "Joy",
        "Stunning",
        "Family man",
        "Emotional",
        "Horror",
        "Reunited",
        "Sun-kissed",
        "Mourning",
        "Brave",
        "Star turn",
        "Wreckage",
        "Champion",
        "Mystery",
    ),
    section_labels=(
        "THE BACKGROUND",
        "WHAT WE KNOW SO FAR",
        "ANALYSIS",
        "HOW TO STAY SAFE",
        "IN NUMBERS",
    ),
    crossheads=(
        "Warning signs",
        "A long road back",
        "Rivals respond",
        "The science explained",
        "What comes next",
    ),
    captions={
        "news": (
            "Paramedics wheel a stretcher from the flats in {place} yesterday afternoon",
            "{name}, {age}, whose body was recovered from the river near {place}",
            "Detectives carry evidence bags from the property on {day}",
            "{name} (centre) is comforted by relatives outside the inquest in {place}",
            "The burnt-out car in a lay-by near {place} where the remains were found",
            "Mourners gather for a vigil at the church in {place}",
        ),
        "sport": (
            "{name} wheels away in delight after curling home the equaliser",
            "{name}, right, and {name2} tussle for possession in midfield",
            "Goalkeeper {name} is beaten at his near post by the header",
            "{team} supporters light flares in the away end at {place}",
            "{name} (left) shakes hands with the referee after the final whistle",
        ),
        "showbiz": (
            "{name} puts on a leggy display in a thigh-skimming blazer dress",
            "{name}, {age}, beams as she shows off her engagement ring in {place}",
            "{name} (right) shares a joke with {name2} backstage",
            "{name} looks effortlessly chic in a cream trouser suit",
            "{name} enjoys a sun-soaked break with her children in {place}",
        ),
        "science": (
            "A close-up of the microscopic worm under an electron microscope",
            "{name} (pictured) holds a replica of the skull at the museum in {place}",
            "The telescope array on the hillside outside {place}",
            "Volunteers tag a turtle on the shore near {place} during the survey",
        ),
        "travel": (
            "Colourful fishing boats bob in the harbour at {place}",
            "{name} takes in the view across the bay from the castle walls",
        ),
        "money": (
            "{name}, {age}, and her partner {name2} outside the home they fear losing",
            "Empty shop units line the high street in {place}",
        ),
    },
    body={
        "news": (
            "Emergency services were called to the block of flats shortly after 3pm.",
            "{name}, {age}, was pronounced dead at the scene despite the efforts of paramedics.",
            "A spokesman for the force said officers were keeping an open mind.",
            "Residents in {place} said they had raised concerns about the building for years.",
            "An inquest into the death was opened and adjourned on {day}.",
            "{name2} said the family had been left heartbroken by the loss.",
        ),
        "sport": (
            "{team} dominated possession but struggled to break down a stubborn defence.",
            "{name} has now scored in each of his last five appearances.",
            "The visitors were reduced to ten men after a second booking.",
            "Both sides had chances to win it in a frantic final ten minutes.",
            "{team2} remain in the relegation zone on goal difference.",
        ),
        "showbiz": (
            "{name} shared the news with her millions of followers on Instagram.",
            "The singer, {age}, is currently preparing for a sold-out arena tour.",
            "Fans were quick to flood the comments section with messages of support.",
            "{name} and {name2} were first linked last summer after being spotted together.",
        ),
        "science": (
            "The team used a new imaging technique to study the samples in detail.",
            "Around one in ten people are thought to carry the gene variant.",
            "{name} said more work was needed before any treatment could be tested.",
            "The results were presented at a conference in {place} this week.",
        ),
        "travel": (
            "Ferries run several times a day in the summer months.",
            "The harbour was rebuilt after storms badly damaged it in the 1950s.",
        ),
        "money": (
            "Mortgage rates have climbed sharply over the past eighteen months.",
            "The retailer blamed rising costs and falling footfall for the closures.",
        ),
    },
    quotes=(
        "'She lit up every room she walked into'",
        "'I am absolutely over the moon'",
        '"This is a dark day for the town"',
    ),
    bullets=(
        "{name} was rushed to hospital but could not be saved",
        "Detectives are appealing for dashcam footage",
        "{name2} scored twice as {team} moved up to fourth",
        "The actress showed off her new look at the launch",
    ),
    headlines={
        "news": ("Heartbroken family pay tribute to {name} after river tragedy",),
        "sport": ("{name} hits brace as {team} sink {team2}",),
        "showbiz": ("{name} flaunts engagement ring during getaway in {place}",),
        "science": ("Tiny worm could hold the secret to longer life, say scientists",),
        "travel": ("A weekend in {place}: harbour views and hearty food",),
        "money": ("High street in {place} loses another bank branch",),
    },
    credits=("(Image: SWNS)", "Photo: Alamy", "(Picture: Facebook)"),
    long_crossheads=(
        "Inside the race to save the historic pier",
        "What the new rules mean for drivers",
        "A lifelong passion for the sea and its creatures",
    ),
    embeds=(
        "\u2014 {name} (@{handle}) 12 May 2023",
        "View this post on Instagram",
        "{name} shared the picture with her followers on Instagram yesterday",
    ),
)

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "March", "May", "June", "August", "October", "November")


class _Writer:
    """Builds one article: fills templates and records the truth as it goes."""

    def __init__(self, rng: random.Random, bank: Bank, section: str) -> None:
        self.rng = rng
        self.bank = bank
        self.section = section
        self.unused_captions = list(bank.captions[section])
        self.unused_body = list(bank.body[section])
        rng.shuffle(self.unused_captions)
        rng.shuffle(self.unused_body)
        self.used_body: set[str] = set()
        self.borrowed_body = False

    def fill(self, template: str) -> str:
        rng, bank = self.rng, self.bank
        names = rng.sample([f"{f} {s}" for f in bank.first for s in bank.last], 2)
        teams = rng.sample(bank.teams, 2)
        return template.format(
            name=names[0],
            name2=names[1],
            place=rng.choice(bank.places),
            team=teams[0],
            team2=teams[1],
            day=rng.choice(_DAYS),
            age=rng.randint(19, 84),
        )

    def caption(self) -> str:
        """A caption from a template not used yet in this article (so no two look alike)."""
        if not self.unused_captions:
            self.unused_captions = list(self.bank.captions["news"])
            self.rng.shuffle(self.unused_captions)
        return self.fill(self.unused_captions.pop())

    def body(self) -> str | None:
        """A body sentence from a template not used yet in this article, or None.

        A section with few templates borrows the news section's once its own run out.
        """
        if not self.unused_body and not self.borrowed_body:
            self.borrowed_body = True
            self.unused_body = [b for b in self.bank.body["news"] if b not in self.used_body]
            self.rng.shuffle(self.unused_body)
        if not self.unused_body:
            return None
        template = self.unused_body.pop()
        self.used_body.add(template)
        return self.fill(template)

    def label(self) -> str:
        return self.rng.choice(self.bank.labels)


def _labelled(rng: random.Random, label: str, text: str) -> str:
    style = rng.random()
    if style < 0.75:
        return f"{label}: {text}"
    if style < 0.9:
        return f"'{label}': {text}"
    return f"\u2018{label}\u2019: {text}"


def _restatement(rng: random.Random, caption_body: str) -> str:
    """A body sentence that says what a caption says: the caption's words and a full stop."""
    choice = rng.random()
    if choice < 0.6:
        return caption_body[0].upper() + caption_body[1:] + "."
    if choice < 0.85:
        return caption_body[0].upper() + caption_body[1:] + " yesterday."
    return caption_body[0].upper() + caption_body[1:] + ", it emerged."


def _article(rng: random.Random, bank: Bank, split: str, number: int) -> SyntheticArticle:
    section = SECTIONS[number % len(SECTIONS)] if rng.random() < 0.85 else rng.choice(SECTIONS)
    w = _Writer(rng, bank, section)
    truth: list[LabelledCaption] = []
    lines: list[str] = []

    first_line: list[str] = []
    if rng.random() < 0.1:
        text = w.caption()
        label = w.label()
        first_line = [f"{label}:", text]
        truth.append(LabelledCaption(f"{label}: {text}", "first-line"))

    title = w.fill(rng.choice(bank.headlines[section]))
    if rng.random() < 0.15:
        title = title.upper() if rng.random() < 0.3 else title + "?"
    head = [*first_line, title]
    if rng.random() < 0.7:
        bullet_mark = rng.choice(("\u2022 ", "- ", "", "\u2022"))
        for _ in range(rng.randint(2, 4)):
            head.append(bullet_mark + w.fill(rng.choice(bank.bullets)))
    author = f"{rng.choice(bank.first)} {rng.choice(bank.last)}"
    head.append(
        rng.choice(
            (
                f"By {author.upper()} FOR MAILONLINE",
                f"By {author}",
                f"By {author.upper()}",
                f"By {author} For Mailonline",
            )
        )
    )
    day = rng.randint(1, 28)
    month = rng.choice(_MONTHS)
    year = rng.randint(2015, 2025)
    head.append(
        f"Published: {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} BST, {day} {month} {year}"
        + (
            f" | Updated: {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} BST, {day} {month} {year}"
            if rng.random() < 0.7
            else ""
        )
    )
    if rng.random() < 0.5:
        head.append(rng.choice(("View comments", f"{rng.randint(2, 999)} shares", "e-mail")))
    if rng.random() < 0.4:
        head.append(rng.choice(("Scroll down for video", "SCROLL DOWN FOR VIDEO")))

    # The body: a list of blocks, each a list of lines, with captions dropped in between.
    body_lines = [b for b in (w.body() for _ in range(rng.randint(5, 8))) if b]
    blocks: list[tuple[list[str], list[LabelledCaption]]] = [([b], []) for b in body_lines]
    others: list[LabelledCaption] = [LabelledCaption(b, "body") for b in body_lines]
    others += [LabelledCaption(line, "header") for line in head[len(first_line) :]]

    def insert(block_lines: list[str], captions: list[LabelledCaption], kind: str = "") -> None:
        at = rng.randint(1, len(blocks))
        blocks.insert(at, (block_lines, captions))
        if kind:
            others.append(LabelledCaption(" ".join(block_lines), kind))

    for _ in range(rng.randint(2, 6)):
        kind = rng.choices(
            (
                "plain",
                "plain-stop",
                "labelled",
                "label-own-line",
                "glued",
                "restated",
                "repeated",
                "credit",
            ),
            weights=(30, 4, 18, 8, 6, 12, 8, 8),
        )[0]
        text = w.caption()
        if kind == "plain":
            insert([text], [LabelledCaption(text, "plain")])
        elif kind == "plain-stop":
            insert([text + "."], [LabelledCaption(text + ".", "plain-stop")])
        elif kind == "labelled":
            printed = _labelled(rng, w.label(), text)
            insert([printed], [LabelledCaption(printed, "labelled")])
        elif kind == "label-own-line":
            label = w.label()
            insert([f"{label}:", text], [LabelledCaption(f"{label}: {text}", "label-own-line")])
        elif kind == "glued":
            first = f"{w.label()}: {text}"
            second = f"{w.label()}: {w.caption()}"
            if first.split(":")[0] == second.split(":")[0]:
                second = f"{w.label()}s: " + second.split(": ", 1)[1]
            joint = rng.choice((" ", " ", "  ", ". "))
            left = first + (joint.strip() if joint.strip() else "")
            insert(
                [first + joint + second],
                [LabelledCaption(left, "glued"), LabelledCaption(second, "glued")],
            )
        elif kind == "restated":
            printed = _labelled(rng, w.label(), text) if rng.random() < 0.4 else text
            restated = _restatement(rng, text)
            caption_first = rng.random() < 0.5
            pair = [printed, restated] if caption_first else [restated, printed]
            insert(pair, [LabelledCaption(printed, "restated")])
            others.append(LabelledCaption(restated, "restated"))
        elif kind == "repeated":
            label = w.label()
            copies = [f"{label}: {text}", _labelled(rng, label, text)]
            if rng.random() < 0.5:
                copies = [text, text]
            for copy in copies:
                insert([copy], [LabelledCaption(copy, "repeated")])
        elif kind == "credit":
            printed = f"{text} {rng.choice(bank.credits)}"
            insert([printed], [LabelledCaption(printed, "credit")])

    # Distractors: not captions.
    if rng.random() < 0.5:
        insert([rng.choice(bank.crossheads)], [], "crosshead")
    if rng.random() < 0.4:
        label = rng.choice(bank.section_labels)
        following = w.body() or "The details are set out below."
        insert(
            [f"{label}:", following] if rng.random() < 0.5 else [f"{label}: {following}"],
            [],
            "section-label",
        )
    if rng.random() < 0.4:
        insert([rng.choice(bank.quotes)], [], "quote")
    if rng.random() < 0.4:
        insert([rng.choice(bank.long_crossheads)], [], "long-crosshead")
    if rng.random() < 0.25:
        handle = rng.choice(bank.last).lower() + str(rng.randint(1, 99))
        embed = rng.choice(bank.embeds).replace("{handle}", handle)
        insert([w.fill(embed)], [], "embed")
    if rng.random() < 0.3:
        repeat = body_lines[rng.randrange(len(body_lines))]
        insert([repeat], [], "repeated-body")
    for _ in range(rng.randint(0, 3)):
        insert(
            [rng.choice(("Advertisement", "ADVERTISEMENT", "RELATED ARTICLES"))], [], "boilerplate"
        )

    tail: list[str] = []
    publisher = url = None
    trailer = rng.random()
    if trailer < 0.35:
        tail.append("Read more at DailyMail.co.uk")
        publisher = "dailymail.co.uk"
    elif trailer < 0.6:
        slug = title.lower().replace(" ", "-").replace("'", "")[:40].strip("-")
        url = (
            f"https://www.dailymail.co.uk/{section}/article-{rng.randint(10**6, 10**7)}/{slug}.html"
        )
        tail.append(f"Read more: {url}#ixzz{rng.randint(10**5, 10**6)}")
        publisher = "dailymail.co.uk"
    if rng.random() < 0.5:
        tail.append("Share or comment on this article:")

    others += [LabelledCaption(line, "boilerplate") for line in tail]
    all_lines = head[:]
    for block_lines, captions in blocks:
        all_lines.extend(block_lines)
        truth.extend(captions)
    all_lines.extend(tail)
    lines = all_lines

    flattened = rng.random() < 0.06
    if flattened:
        text = " ".join(lines) + "\n"
        truth = [LabelledCaption(c.text, "flattened") for c in truth]
    elif rng.random() < 0.5:
        text = "\n\n".join(lines) + "\n"
    else:
        text = "\n".join(lines) + "\n"
    return SyntheticArticle(
        name=f"{split}-{number:03d}-{section}",
        split=split,
        section=section,
        text=text,
        title=title,
        publisher=publisher,
        url=url,
        captions=tuple(truth),
        non_captions=tuple(others),
        flattened=flattened,
    )


def align(found: Sequence[Hashable], truth: Sequence[Hashable]) -> list[tuple[int, int]]:
    """Longest common subsequence of two lists (items compared exactly); returns index pairs."""
    n, m = len(found), len(truth)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if found[i] == truth[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if found[i] == truth[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def score(article: SyntheticArticle, found: list[str]) -> Counter[tuple[str, str]]:
    """Count what an extractor got right and wrong on one article, per pattern.

    A found caption matches a true occurrence when the texts are equal; the two lists are
    aligned in order, so a caption printed twice must be found twice. A found text that
    matches nothing is put down to the line it came from: a non-caption line it equals or
    overlaps (its kind), else the true caption it overlaps (its pattern: an unsplit glued
    line, a label cut from its caption), else "other".

    Returns:
        Counts keyed ("truth", pattern), ("matched", pattern) and ("spurious", kind or pattern).
    """
    truth = [c.text for c in article.captions]
    pairs = align(found, truth)
    counts: Counter[tuple[str, str]] = Counter()
    for caption in article.captions:
        counts["truth", caption.pattern] += 1
    for _, j in pairs:
        counts["matched", article.captions[j].pattern] += 1
    matched = {i for i, _ in pairs}
    for i, text in enumerate(found):
        if i not in matched:
            counts["spurious", _blame(article, text)] += 1
    return counts


def _blame(article: SyntheticArticle, text: str) -> str:
    for line in article.non_captions:
        if text == line.text:
            return line.pattern
    for line in article.non_captions:
        if len(line.text) > 12 and (line.text in text or text in line.text):
            return line.pattern
    for caption in article.captions:
        if caption.text in text or text in caption.text:
            return caption.pattern
    return "other"


def build(split: str, count: int, *, seed: int) -> list[SyntheticArticle]:
    """``count`` articles of one split, the same ones for the same seed.

    Args:
        split: ``DEV`` or ``HELD_OUT`` (chooses the word bank).
        count: How many articles.
        seed: Seed for ``random.Random``.
    """
    bank = _DEV if split == DEV else _HELD_OUT
    rng = random.Random(f"{split}:{seed}")
    return [_article(rng, bank, split, number) for number in range(count)]


def dev_corpus() -> list[SyntheticArticle]:
    """The development split: 160 articles."""
    return build(DEV, 160, seed=2026)


def held_out_corpus() -> list[SyntheticArticle]:
    """The held-out split: 80 articles from the other word bank."""
    return build(HELD_OUT, 80, seed=2026)


def main(argv: list[str]) -> int:
    """Write both splits as ``.txt`` files into the folder given."""
    out = Path(argv[1]) if len(argv) > 1 else Path("synthetic-articles")
    out.mkdir(parents=True, exist_ok=True)
    for article in dev_corpus() + held_out_corpus():
        (out / f"{article.name}.txt").write_text(article.text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
