"""Read a C2PA (Content Credentials) manifest store offline into metadata fields.

What the fields claim, and what they do not:

* ``validation_state`` is the manifest store's state exactly as c2pa-python reports it
  (``"Valid"``, ``"Invalid"``, ``"Trusted"``). provcat loads no trust anchors, so a manifest
  whose hashes and signature check out reads ``"Valid"`` with a ``validation_status`` of
  ``"signingCredential.untrusted"``: the signature matches *a* certificate, nobody vouches for
  who holds it. Nothing here ever says "verified".
* ``signature.issuer`` is the organisation of the signing certificate, as the certificate
  itself states it; a self-made certificate can name any organisation.

Offline: remote manifests (a URL in the XMP instead of an embedded store) are never fetched and
OCSP responders are never asked, through the library's ``verify.remote_manifest_fetch`` and
``verify.ocsp_fetch`` settings on a per-read Context; its shared default context is left alone.
The library accepts unknown setting names silently, so the names were checked against the
installed library: with ``ocsp_fetch`` off it reports ``signingCredential.ocsp.skipped``.

A damaged store must not cost the image its catalogue entry, so any library error while reading
one becomes a single field ``validation_state`` = ``"unreadable: <reason>"`` instead of an
exception.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import c2pa as c2pa_lib  # type: ignore[import-untyped]  # c2pa-python ships no py.typed

from provcat.metadata.field import MetadataField
from provcat.metadata.tables import C2PA

#: The IPTC property each C2PA key carries; the signer's organisation is no image credit.
C2PA_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType(
    {"title": "title", "digital_source_type": "digital_source_type"}
)

#: Byte strings of which an embedded manifest store always contains at least one: its JUMBF
#: superbox type (``jumb``) and the store's label (``c2pa``), stored uncompressed in every
#: container (JPEG APP11, PNG caBX, ISO BMFF uuid box, RIFF C2PA chunk, TIFF tag).
_MARKERS: Final = (b"jumb", b"c2pa")

_OFFLINE_SETTINGS: Final = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def read_c2pa(path: Path, data: bytes | None = None) -> list[MetadataField]:
    """Read the C2PA manifest store embedded in one file.

    Files without a JUMBF/C2PA marker anywhere in their bytes are not handed to the library:
    most images carry no manifest, and a byte scan is much cheaper than the library's parse
    and never wrong in that direction (an embedded store cannot lack both markers).

    Args:
        path: The image file.
        data: Its bytes, when already read (then the path is not opened again).

    Returns:
        Fields with standard ``"C2PA"``, in this order: ``active_manifest``, ``title``,
        ``claim_generator`` (one per generator, ordinal), ``signature.issuer``,
        ``signature.time``, ``assertion:<label>`` (each action name of an actions assertion,
        ordinal), ``digital_source_type`` (each distinct value, ordinal), ``ingredient``
        (each ingredient title, ordinal), ``validation_state``, ``validation_status`` (each
        status code, ordinal). Absent values are left out. ``[]`` for a file without an
        embedded manifest; one ``validation_state`` field ``"unreadable: <reason>"`` for a
        store the library cannot read.
    """
    if data is None:
        data = path.read_bytes()
    if not any(marker in data for marker in _MARKERS):
        return []
    try:
        store = _read_store(data)
    except c2pa_lib.C2paError as error:
        return [_field("validation_state", f"unreadable: {_reason(error)}")]
    except (ValueError, TypeError) as error:
        # JSON the library produced but that does not have the documented shape.
        return [_field("validation_state", f"unreadable: {error}")]
    if store is None:
        return []
    return _store_fields(store)


def _read_store(data: bytes) -> dict[str, Any] | None:
    with (
        c2pa_lib.Context.from_dict(_OFFLINE_SETTINGS) as context,
        io.BytesIO(data) as stream,
    ):
        reader = c2pa_lib.Reader.try_create(stream, context=context)
        if reader is None:
            return None
        with reader:
            store = json.loads(reader.json())
    if not isinstance(store, dict):
        raise TypeError(f"manifest store JSON is a {type(store).__name__}, not an object")
    return store


def _store_fields(store: Mapping[str, Any]) -> list[MetadataField]:
    fields: list[MetadataField] = []
    label = store.get("active_manifest")
    manifests = store.get("manifests")
    manifest = None
    if isinstance(label, str) and isinstance(manifests, Mapping):
        manifest = manifests.get(label)
    if isinstance(label, str):
        fields.append(_field("active_manifest", label))
    if isinstance(manifest, Mapping):
        fields += _manifest_fields(manifest)
    state = store.get("validation_state")
    if isinstance(state, str) and state.strip():
        fields.append(_field("validation_state", state))
    for ordinal, status in enumerate(_codes(store.get("validation_status"))):
        fields.append(_field("validation_status", status, ordinal))
    return fields


def _manifest_fields(manifest: Mapping[str, Any]) -> list[MetadataField]:
    fields: list[MetadataField] = []
    title = manifest.get("title")
    if isinstance(title, str) and title.strip():
        fields.append(_field("title", title))
    for ordinal, generator in enumerate(_generators(manifest)):
        fields.append(_field("claim_generator", generator, ordinal))
    signature = manifest.get("signature_info") or {}
    if isinstance(signature, Mapping):
        for name in ("issuer", "time"):
            value = signature.get(name)
            if isinstance(value, str) and value.strip():
                fields.append(_field(f"signature.{name}", value))
    source_types: list[str] = []
    for assertion in _mappings(manifest.get("assertions")):
        label = assertion.get("label")
        if not isinstance(label, str) or not label.startswith("c2pa.actions"):
            continue
        data = assertion.get("data") or {}
        actions = list(_mappings(data.get("actions") if isinstance(data, Mapping) else None))
        names = [a["action"] for a in actions if isinstance(a.get("action"), str)]
        for ordinal, name in enumerate(names):
            fields.append(_field(f"assertion:{label}", name, ordinal))
        for action in actions:
            source = action.get("digitalSourceType")
            if isinstance(source, str) and source.strip() and source not in source_types:
                source_types.append(source)
    for ordinal, source in enumerate(source_types):
        fields.append(_field("digital_source_type", source, ordinal))
    ingredients = _mappings(manifest.get("ingredients"))
    titles = [i["title"] for i in ingredients if isinstance(i.get("title"), str)]
    for ordinal, ingredient in enumerate(t for t in titles if t.strip()):
        fields.append(_field("ingredient", ingredient, ordinal))
    return fields


def _generators(manifest: Mapping[str, Any]) -> list[str]:
    # Claims v1 carry a ``claim_generator`` string; v2 only ``claim_generator_info`` entries.
    generators = []
    legacy = manifest.get("claim_generator")
    if isinstance(legacy, str) and legacy.strip():
        generators.append(legacy)
    for info in _mappings(manifest.get("claim_generator_info")):
        name = info.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        version = info.get("version")
        text = f"{name} {version}" if isinstance(version, str) and version.strip() else name
        if text not in generators:
            generators.append(text)
    return generators


def _codes(statuses: Any) -> Iterator[str]:
    for status in _mappings(statuses):
        code = status.get("code")
        if isinstance(code, str) and code.strip():
            yield code


def _mappings(items: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(items, list):
        yield from (item for item in items if isinstance(item, Mapping))


def _reason(error: Exception) -> str:
    return str(error).strip() or type(error).__name__


def _field(key: str, value: str, ordinal: int = 0) -> MetadataField:
    return MetadataField(C2PA, key, value, C2PA_PROPERTIES.get(key), ordinal)
