"""Signed audit checkpoints (S 42): an auditor's Ed25519 key signs the chains' heads, so a
changed checkpoint is refused as well as a changed chain."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from base.errors import SignatureError
from schemas.audit import Head, heads_document, signing

HEADS = {"govbus.ingest.a/0": Head(7, "ab" * 32), "govbus.ingest.a/1": Head(3, "cd" * 32)}


def _keys(tmp_path: Path, name: str = "auditor") -> tuple[Path, Path]:
    private, public = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
    signing.new_key(private, public)
    return private, public


def test_a_signature_verifies_for_the_same_heads_only(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signature = signing.sign(private, heads_document(HEADS))
    signing.check(public, heads_document(HEADS), signature)
    # Order of chains does not matter; any changed head does.
    signing.check(public, heads_document(dict(reversed(HEADS.items()))), signature)
    moved = {**HEADS, "govbus.ingest.a/0": Head(6, "ab" * 32)}
    with pytest.raises(SignatureError, match="changed"):
        signing.check(public, heads_document(moved), signature)


def test_another_key_a_garbled_signature_or_none_is_refused(tmp_path: Path) -> None:
    private, _ = _keys(tmp_path)
    _, other = _keys(tmp_path, "other")
    data = heads_document(HEADS)
    signature = signing.sign(private, data)
    with pytest.raises(SignatureError):
        signing.check(other, data, signature)
    with pytest.raises(SignatureError):
        signing.check(other, data, {**signature, "value": "not base64!"})
    with pytest.raises(SignatureError, match="no ed25519 signature"):
        signing.check(other, data, None)


def test_keys_are_never_overwritten_and_bad_files_are_named(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    with pytest.raises(SignatureError, match="never overwritten"):
        signing.new_key(private, public)
    with pytest.raises(SignatureError, match="cannot read the key"):
        signing.sign(tmp_path / "missing.key", b"x")
    with pytest.raises(SignatureError, match=r"not an Ed25519 private key|cannot read"):
        signing.sign(public, b"x")
