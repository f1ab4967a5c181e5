"""Signed audit checkpoints: Ed25519 keys for the heads of the audit hash chains (S 42).

The heads of ``govbus audit verify --json`` are what proves, later, that no chain was cut
short or rewritten from its end. An auditor signs them with a private key the bus's
operators do not hold (``--sign KEY``); ``--expect REPORT --trust PUBLIC`` accepts the
earlier heads only when that signature verifies, so a changed report is refused as well as
a changed chain. Keys are PEM files (PKCS#8 private, mode 0600; SubjectPublicKeyInfo
public). The signature covers :func:`schemas.audit.heads_document`.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from base.credentials import write_private
from base.errors import SignatureError

ALGORITHM = "ed25519"


def new_key(private: Path, public: Path) -> None:
    """Write a fresh key pair; the private key only to a 0600 file, never shown."""
    if private.exists():
        raise SignatureError(f"{private} exists; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private.parent.mkdir(parents=True, exist_ok=True)
    write_private(private, pem.decode("ascii"))
    public.parent.mkdir(parents=True, exist_ok=True)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def sign(private: Path, data: bytes) -> dict[str, str]:
    """``{"algorithm", "value"}``: the signature of ``data``, base64."""
    key = _load(private, public=False)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{private} is not an Ed25519 private key")
    value = base64.b64encode(key.sign(data)).decode("ascii")
    return {"algorithm": ALGORITHM, "value": value}


def check(public: Path, data: bytes, signature: object) -> None:
    """Return when ``signature`` (as :func:`sign` made it) is ``public``'s over ``data``."""
    key = _load(public, public=True)
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{public} is not an Ed25519 public key")
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        raise SignatureError(f"no {ALGORITHM} signature")
    try:
        key.verify(base64.b64decode(str(signature.get("value")), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureError("the signature does not verify: the heads were changed") from exc


def _load(path: Path, *, public: bool) -> object:
    try:
        data = path.read_bytes()
        if public:
            return serialization.load_pem_public_key(data)
        return serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"cannot read the key {path}: {exc}") from exc
