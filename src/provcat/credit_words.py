"""Word lists and known-organisation tables that credit lines are read against."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "ALIASES",
    "ANONYMOUS_WORDS",
    "GENERIC",
    "KNOWN_ORGANISATIONS",
    "MARKERS",
    "NOTES",
    "ORG_WORDS",
    "PARTICLES",
    "QUOTE_DASH_FOLD",
]

# fmt: off
# Keys (see agent_key) of wire agencies, picture libraries, broadcasters and platforms. A
# slash is split only when one side is one of these: that is what makes it the wire convention.
KNOWN_ORGANISATIONS = frozenset(
    {
        # wire agencies and picture agencies
        "reuters", "ap", "afp", "getty images", "epa", "efe", "epa efe", "pa", "dpa", "ansa",
        "anp", "xinhua", "tass", "itar tass", "ria novosti", "sputnik", "anadolu",
        "anadolu agency", "kyodo", "kyodo news", "yonhap", "aap", "canadian press", "bloomberg",
        "nurphoto", "sipa", "sipa usa", "zuma press", "zuma wire", "rex", "rex features",
        "shutterstock", "alamy", "alamy live news", "istock", "corbis", "magnum photos",
        "polaris", "redux", "abaca", "splash news", "backgrid", "ukrinform", "unian", "interfax",
        "tasnim", "wana", "imago", "picture alliance", "belga", "tt", "ntb", "lehtikuva",
        "ritzau", "ctk", "pap", "mti", "hina", "tanjug", "beta", "mina", "pixsell",
        "unsplash", "pexels", "dreamstime", "adobe stock", "maxar technologies",
        "planet labs", "airbus",
        # broadcasters and newsrooms commonly credited as suppliers
        "sky news", "bbc", "bbc news", "cnn", "itv news", "channel 4 news", "al jazeera",
        "nbc news", "abc news", "cbs news", "fox news", "france 24", "euronews", "dw", "rt",
        # platforms a picture is taken from
        "facebook", "twitter", "instagram", "telegram", "youtube", "tiktok", "whatsapp",
        "vkontakte", "vk", "reddit", "snapchat", "weibo", "wechat", "flickr",
        "wikimedia commons", "google maps", "google earth",
    }
)

# Spellings of one organisation that must compare equal; targets are never themselves keys here,
# which keeps agent_key idempotent.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "associated press": "ap", "ap photo": "ap", "agence france presse": "afp",
        "afp photo": "afp", "thomson reuters": "reuters", "european pressphoto agency": "epa",
        "press association": "pa", "pa wire": "pa", "pa images": "pa", "pa media": "pa",
        "getty": "getty images", "deutsche presse agentur": "dpa", "istockphoto": "istock",
        "twitter x": "twitter", "x twitter": "twitter", "x formerly twitter": "twitter",
        "x formerly known as twitter": "twitter", "maxar": "maxar technologies",
        "planet labs pbc": "planet labs",
    }
)

# Words that say a name is an organisation; the text says so, so this is not a guess.
ORG_WORDS = frozenset(
    {
        "news", "agency", "agencies", "press", "images", "photos", "pictures", "media", "tv",
        "television", "radio", "broadcasting", "broadcaster", "network", "channel", "times",
        "post", "herald", "telegraph", "guardian", "journal", "gazette", "tribune", "daily",
        "ministry", "department", "office", "service", "services", "police", "army", "military",
        "forces", "navy", "government", "council", "committee", "commission", "bureau",
        "institute", "university", "foundation", "association", "federation", "organisation",
        "organization", "company", "corporation", "corp", "inc", "ltd", "llc", "plc", "gmbh",
        "group", "society", "trust", "union", "party", "parliament", "kremlin", "presidency",
        "administration", "embassy", "museum", "library", "archive", "archives", "collection",
        "studio", "studios", "productions", "centre", "center", "centres", "centers",
        "hospital", "command", "directorate", "authority", "authorities", "club", "nasa", "nato",
    }
)

# Words that say the agent is deliberately or necessarily not named.
ANONYMOUS_WORDS = frozenset(
    {
        "unnamed", "anonymous", "anon", "undisclosed", "unidentified", "unknown", "withheld",
        "unspecified", "unattributed", "uncredited", "stringer",
    }
)

# Credits that describe how a picture came, not who made it ("Handout via Reuters"). They stay
# in the chain as agents of kind "unknown", except inside a wire group that names the party
# that handed the picture out ("Ministry of Defence/Handout"), where they only qualify it.
MARKERS = frozenset(
    {
        "handout", "handout photo", "handout picture", "handout image", "family handout",
        "supplied", "supplied photo", "supplied picture", "supplied image", "social media",
        "pool", "pool photo", "pool picture", "collect", "collect picture", "courtesy",
    }
)

# Annotations that name no one: dropped from the chain.
NOTES = frozenset({"file", "file photo", "file picture", "file image", "archive photo"})

# Words that stand for "the picture" before a "via": "Photo via Reuters" names no originator.
GENERIC = frozenset(
    {
        "photo", "photos", "photograph", "picture", "pictures", "pic", "image", "images",
        "video", "footage", "still", "screenshot", "screengrab", "screen grab",
    }
)

# Lower-case name particles a photographer's name may hold ("Jan van der Berg").
PARTICLES = frozenset(
    {
        "de", "da", "di", "del", "della", "der", "den", "van", "von", "bin", "ibn", "al", "el",
        "le", "la", "du", "dos", "das", "ter", "ten", "abu", "ben", "st", "mac",
    }
)

# Typographic quotes and dashes, folded to their ASCII forms before names are compared.
QUOTE_DASH_FOLD = str.maketrans("‘’‚‛′‹›`“”„‟″«»‐‑‒–—―−﹘", "'" * 8 + '"' * 7 + "-" * 8)

# fmt: on
