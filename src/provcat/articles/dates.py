"""Publication dates as articles state them, with how precise the statement is."""

from __future__ import annotations

import datetime
import re

_MONTHS: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")"

_DAY_MONTH_YEAR = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\.?,?\s+(\d{4})\b", re.IGNORECASE
)
_MONTH_DAY_YEAR = re.compile(
    r"\b" + _MONTH + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.IGNORECASE
)
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_YEAR = re.compile(r"\b" + _MONTH + r"\.?,?\s+(\d{4})\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(\d{4})\b")
_MACHINE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T\s].*)?\s*$")

#: What "nothing is known" looks like.
UNKNOWN: tuple[datetime.date | None, str] = (None, "unknown")


def _date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def parse_text_date(
    text: str, *, allow_year_only: bool = False
) -> tuple[datetime.date | None, str]:
    """Find the first date written out in words or ISO form in a line of text.

    A full date (day, month, year) wins over a month and year, which wins over a bare year;
    a bare year is only taken when ``allow_year_only`` (the caller knows the line is a
    dateline, so "2017" cannot be a figure). Impossible dates (31 February) are ignored.

    Args:
        text: One line, e.g. "Published: 10:15, 14 April 2017" or "Posted April 2019".
        allow_year_only: Whether a lone four-digit year counts as a date.

    Returns:
        ``(date, precision)``; the date is the first of the month or year for "month" and
        "year" precision; ``(None, "unknown")`` when no date is written.
    """
    invalid_day = False
    for pattern, order in ((_DAY_MONTH_YEAR, "dmy"), (_MONTH_DAY_YEAR, "mdy"), (_ISO_DAY, "iso")):
        for match in pattern.finditer(text):
            if order == "dmy":
                day, month, year = int(match[1]), _MONTHS[match[2].lower()], int(match[3])
            elif order == "mdy":
                day, month, year = int(match[2]), _MONTHS[match[1].lower()], int(match[3])
            else:
                year, month, day = int(match[1]), int(match[2]), int(match[3])
            found = _date(year, month, day)
            if found is not None:
                return found, "day"
            invalid_day = True
    if invalid_day:
        return UNKNOWN  # "31 February 2017" is a typo, not a statement that it was February.
    month_year = _MONTH_YEAR.search(text)
    if month_year:
        found = _date(int(month_year[2]), _MONTHS[month_year[1].lower()], 1)
        if found is not None:
            return found, "month"
    if allow_year_only:
        year_only = _YEAR.search(text)
        if year_only:
            found = _date(int(year_only[1]), 1, 1)
            if found is not None:
                return found, "year"
    return UNKNOWN


def parse_machine_date(value: str) -> tuple[datetime.date | None, str]:
    """Read a date from a machine-readable field (meta tag, JSON-LD, ``<time datetime>``).

    The calendar date is taken as written, in the publisher's own offset: converting
    "2017-04-14T23:30:00-05:00" to UTC would move the article to a day it was not dated.

    Args:
        value: An ISO 8601 date or date-time ("2017", "2017-04", "2017-04-14T10:15:00Z"), or
            failing that any form ``parse_text_date`` knows (e.g. RFC 2822 dates).

    Returns:
        ``(date, precision)`` or ``(None, "unknown")``.
    """
    match = _MACHINE.match(value)
    if match:
        year = int(match[1])
        if match[3] is not None:
            found = _date(year, int(match[2]), int(match[3]))
            return (found, "day") if found else UNKNOWN
        if match[2] is not None:
            found = _date(year, int(match[2]), 1)
            return (found, "month") if found else UNKNOWN
        found = _date(year, 1, 1)
        return (found, "year") if found else UNKNOWN
    return parse_text_date(value)
