"""Provenance rows: credit chains with their agents, people and who is shown in which image."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from provcat import models as m
from provcat.credits import CreditChain, agent_key, parse_credit, with_publisher
from provcat.metadata import MetadataField


def embedded_provenance(
    image: m.Image, fields: Sequence[MetadataField], *, session: Session
) -> None:
    """Chains from embedded credit lines, and people named in embedded metadata."""
    seen: set[str] = set()
    for f in fields:
        if f.property != "credit_line" or f.truncated or not f.value.strip():
            continue
        if f.value in seen:
            continue
        seen.add(f.value)
        record_chain(
            image,
            None,
            parse_credit(f.value),
            origin=f"{f.standard} {f.key}",
            session=session,
        )
    for f in fields:
        if f.property == "person_in_image" and f.value.strip():
            person = person_row(f.value.strip(), session=session)
            record_depiction(image, person, None, f"{f.standard} {f.key}", session=session)


def record_chain(
    image: m.Image,
    article: m.Article | None,
    chain: CreditChain,
    *,
    origin: str,
    session: Session,
) -> m.ProvenanceChain:
    """The chain row of a credit stated for ``image`` (in ``article``, or embedded if None).

    The same credit from the same place is one row however often it is ingested; a credit
    that names no one is stored with an unknown first link, never a guessed one.
    """
    signature = hashlib.sha256(
        "\x1f".join(
            [image.sha256, article.key if article else "", origin, chain.raw or ""]
        ).encode()
    ).hexdigest()
    row = session.scalar(select(m.ProvenanceChain).where(m.ProvenanceChain.signature == signature))
    if row is not None:
        return row
    links: list[tuple[m.Agent | None, str]] = []
    if not chain.known:
        # No credit was stated: the maker stays unknown rather than being guessed.
        links.append((None, "credited"))
    publisher = article.publisher if article else None
    for link in with_publisher(chain, publisher).links:
        ref = link.agent
        links.append(
            (agent_row(ref.name, ref.key, ref.kind, ref.anonymous, session=session), link.role)
        )
    # The chain is built only after every agent exists, so no half-made chain is flushed.
    row = m.ProvenanceChain(
        signature=signature, image=image, article=article, credit_raw=chain.raw, origin=origin
    )
    for ordinal, (linked, role) in enumerate(links):
        row.links.append(m.ProvenanceLink(ordinal=ordinal, agent=linked, role=role))
    session.add(row)
    session.flush()
    return row


def agent_row(name: str, key: str, kind: str, anonymous: bool, *, session: Session) -> m.Agent:
    """The agent row with this key, created if new (safe against a concurrent writer)."""
    agent = session.scalar(select(m.Agent).where(m.Agent.key == key))
    if agent is not None:
        return agent
    agent = m.Agent(key=key, name=name, kind=kind, anonymous=anonymous)
    try:
        with session.begin_nested():
            session.add(agent)
    except IntegrityError:
        found = session.scalar(select(m.Agent).where(m.Agent.key == key))
        if found is None:
            raise
        return found
    return agent


def person_key(name: str) -> str:
    """Identity of a person's name: the same folding as agents'."""
    return agent_key(name)


def person_row(name: str, *, session: Session, description: str | None = None) -> m.Person:
    """The person named (or the one this name is an alias of), created if new."""
    key = person_key(name)
    person = session.scalar(select(m.Person).where(m.Person.key == key))
    if person is None:
        alias = session.scalar(select(m.PersonAlias).where(m.PersonAlias.key == key))
        if alias is not None:
            return alias.person
        person = m.Person(key=key, name=name, description=description)
        with session.begin_nested():
            session.add(person)
    elif description and not person.description:
        person.description = description
    return person


def record_depiction(
    image: m.Image, person: m.Person, cue: str | None, source: str, *, session: Session
) -> None:
    """Record that ``source`` says ``person`` is shown in ``image`` (with a position cue)."""
    existing = session.scalar(
        select(m.Depiction).where(
            m.Depiction.image_id == image.id,
            m.Depiction.person_id == person.id,
            m.Depiction.source == source,
        )
    )
    if existing is None:
        session.add(m.Depiction(image=image, person=person, cue=cue, source=source))
    else:
        existing.cue = cue
    session.flush()
