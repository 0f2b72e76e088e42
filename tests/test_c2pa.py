"""Tests for provcat.metadata.c2pa: manifests signed at test time, read back offline."""

from __future__ import annotations

import datetime
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import c2pa  # type: ignore[import-untyped]  # c2pa-python ships no py.typed
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from provcat.metadata import C2PA, MetadataField, read_metadata
from provcat.metadata.c2pa import read_c2pa
from provcat.wiremeta import insert_segment

SIGNER_ORG = "Harbour Desk Test Signer"
CA_ORG = "Harbour Desk Test CA"
TITLE = "Fishing boats at dawn"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


@dataclass(frozen=True)
class Credentials:
    """A PEM certificate chain (leaf first, then CA) and the leaf's PEM private key."""

    chain: bytes
    key: bytes


def _name(org: str, common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture(scope="module")
def credentials() -> Credentials:
    """An ES256 CA and a leaf it issued, fit for C2PA signing (digitalSignature, emailProtection).

    c2pa-rs refuses a self-signed signing certificate, so the leaf is issued by a CA.
    """
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(CA_ORG, "Harbour Desk Test Root")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(SIGNER_ORG, "Harbour Desk Test Leaf"))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Credentials(leaf.public_bytes(pem) + ca.public_bytes(pem), key)


def _plain_jpeg() -> bytes:
    image = Image.new("RGB", (64, 48), (40, 90, 160))
    image.paste((220, 200, 40), (10, 8, 40, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _sign(
    jpeg: bytes,
    credentials: Credentials,
    *,
    title: str = TITLE,
    actions: list[dict[str, object]] | None = None,
    parent: tuple[str, bytes] | None = None,
) -> bytes:
    manifest = {
        "claim_generator_info": [{"name": "provcat-tests", "version": "0.1"}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": actions or [{"action": "c2pa.created", "digitalSourceType": CAPTURE}]
                },
            }
        ],
    }
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.chain, credentials.key, None)
    signer = c2pa.Signer.from_info(info)
    out = io.BytesIO()
    with signer, c2pa.Builder(manifest) as builder:
        if parent is not None:
            ingredient = {"title": parent[0], "relationship": "parentOf", "label": "parent"}
            builder.add_ingredient(ingredient, "image/jpeg", io.BytesIO(parent[1]))
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def signed_jpeg(credentials: Credentials) -> bytes:
    """A JPEG with an embedded manifest signed by the test leaf (no timestamp authority)."""
    return _sign(_plain_jpeg(), credentials)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read_all(path: Path) -> list[MetadataField]:
    with Image.open(path) as image:
        return read_metadata(path, image)


def _c2pa_values(fields: list[MetadataField]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for field in fields:
        if field.standard == C2PA:
            values.setdefault(field.key, []).append(field.value)
    return values


def test_signed_manifest_read_back(tmp_path: Path, signed_jpeg: bytes) -> None:
    path = _write(tmp_path, "signed.jpg", signed_jpeg)
    values = _c2pa_values(_read_all(path))
    assert values["title"] == [TITLE]
    assert values["signature.issuer"] == [SIGNER_ORG]
    assert values["claim_generator"] == ["provcat-tests 0.1"]
    assert values["digital_source_type"] == [CAPTURE]
    actions = {key: value for key, value in values.items() if key.startswith("assertion:")}
    # The library stores the actions assertion under its current version label.
    assert list(actions.values()) == [["c2pa.created"]]
    assert all(key.startswith("assertion:c2pa.actions") for key in actions)
    assert values["active_manifest"][0].startswith("urn:c2pa:")
    assert "signature.time" not in values  # signed without a timestamp authority
    assert "ingredient" not in values


def test_untrusted_signer_reads_valid_not_verified(tmp_path: Path, signed_jpeg: bytes) -> None:
    path = _write(tmp_path, "signed.jpg", signed_jpeg)
    values = _c2pa_values(read_c2pa(path))
    assert values["validation_state"] == ["Valid"]
    assert "signingCredential.untrusted" in values["validation_status"]
    every_value = " ".join(v for vs in values.values() for v in vs).lower()
    assert "verified" not in every_value


def test_fields_carry_properties_and_ordinals(tmp_path: Path, signed_jpeg: bytes) -> None:
    path = _write(tmp_path, "signed.jpg", signed_jpeg)
    fields = read_c2pa(path)
    by_key = {field.key: field for field in fields}
    assert by_key["title"].property == "title"
    assert by_key["digital_source_type"].property == "digital_source_type"
    assert by_key["signature.issuer"].property is None
    assert by_key["validation_state"].property is None
    statuses = [field.ordinal for field in fields if field.key == "validation_status"]
    assert statuses == list(range(len(statuses)))


def test_edit_lists_its_ingredient(
    tmp_path: Path, signed_jpeg: bytes, credentials: Credentials
) -> None:
    cropped = io.BytesIO()
    with Image.open(io.BytesIO(signed_jpeg)) as original:
        original.crop((0, 0, 32, 24)).save(cropped, "JPEG")
    edited = _sign(
        cropped.getvalue(),
        credentials,
        title="Fishing boats (crop)",
        actions=[
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
            {"action": "c2pa.cropped"},
        ],
        parent=("original.jpg", signed_jpeg),
    )
    values = _c2pa_values(read_c2pa(_write(tmp_path, "edited.jpg", edited)))
    assert values["title"] == ["Fishing boats (crop)"]
    assert values["ingredient"] == ["original.jpg"]
    actions = [value for key, vs in values.items() if key.startswith("assertion:") for value in vs]
    assert actions == ["c2pa.opened", "c2pa.cropped"]
    assert values["validation_state"] == ["Valid"]


def test_tampered_pixels_read_invalid(tmp_path: Path, signed_jpeg: bytes) -> None:
    # Flip bytes in the entropy-coded data just before EOI: the data hash no longer matches.
    data = bytearray(signed_jpeg)
    end = data.rindex(b"\xff\xd9")
    data[end - 8 : end - 4] = bytes(b ^ 0x55 for b in data[end - 8 : end - 4])
    path = _write(tmp_path, "tampered.jpg", bytes(data))
    values = _c2pa_values(read_c2pa(path))
    assert values["validation_state"] == ["Invalid"]
    assert "assertion.dataHash.mismatch" in values["validation_status"]


def test_plain_jpeg_has_no_c2pa_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "plain.jpg", _plain_jpeg())
    assert read_c2pa(path) == []
    assert _c2pa_values(_read_all(path)) == {}


def test_garbled_app11_is_unreadable_not_raised(tmp_path: Path) -> None:
    # A JPEG XT JUMBF header announcing a 256-byte 'jumb' superbox of which only garbage follows.
    payload = (
        b"JP\x00\x01\x00\x00\x00\x01"
        + struct.pack(">I", 256)
        + b"jumb"
        + struct.pack(">I", 30)
        + b"jumdc2pa"
        + b"\xde\xad" * 20
    )
    path = _write(tmp_path, "garbled.jpg", insert_segment(_plain_jpeg(), 0xEB, payload))
    fields = [field for field in _read_all(path) if field.standard == C2PA]
    assert len(fields) == 1
    assert fields[0].key == "validation_state"
    assert fields[0].value.startswith("unreadable: ")
    assert len(fields[0].value) > len("unreadable: ")


def test_truncated_signed_store_is_unreadable(tmp_path: Path, signed_jpeg: bytes) -> None:
    # Zero a run of bytes inside the manifest store: the JUMBF boxes no longer parse.
    data = bytearray(signed_jpeg)
    start = data.index(b"\xff\xeb") + 4 + 200
    data[start : start + 64] = bytes(64)
    path = _write(tmp_path, "cut.jpg", bytes(data))
    values = _c2pa_values(_read_all(path))
    assert list(values) == ["validation_state"]
    assert values["validation_state"][0].startswith("unreadable: ")


def test_marker_split_across_read_chunks_is_found(tmp_path: Path) -> None:
    # "jumb" straddles the 1 MiB read boundary; found, the bytes go to the library, which
    # cannot read them. Without a marker the same bytes are never handed over.
    boundary = 1 << 20
    found = _write(tmp_path, "found.bin", bytes(boundary - 2) + b"jumb" + bytes(64))
    missed = _write(tmp_path, "missed.bin", bytes(boundary - 2) + b"junk" + bytes(64))
    fields = read_c2pa(found)
    assert [field.key for field in fields] == ["validation_state"]
    assert fields[0].value.startswith("unreadable: ")
    assert read_c2pa(missed) == []
