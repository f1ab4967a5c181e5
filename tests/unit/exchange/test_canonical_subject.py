"""The canonical subject (GM 18 ¶2): one value object builds and splits ``<kind>:<number>``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import IdentityKeyError
from exchange.identity import IdentityKind, Subject, mask_subject, parse


@given(kind=st.sampled_from(list(IdentityKind)), number=st.text(min_size=1))
def test_a_subject_splits_back_into_what_built_it_GM18(kind: IdentityKind, number: str) -> None:
    subject = Subject(kind, number)
    assert Subject.parse(str(subject)) == subject
    assert subject.key == str(subject).encode("utf-8")


def test_the_form_is_kind_colon_number() -> None:
    subject = Subject(IdentityKind.RESIDENT_ID, "11010519491231002X")
    assert str(subject) == "resident_id:11010519491231002X"
    assert parse("11010519491231002X").canonical == str(subject)
    assert parse("11010519491231002X").subject == subject


@pytest.mark.parametrize(
    "text", ["11010519491231002X", "resident_id:", "passport:E1234567", ":123", ""]
)
def test_text_that_is_not_a_canonical_subject_is_refused_GM18(text: str) -> None:
    with pytest.raises(IdentityKeyError) as refused:
        Subject.parse(text)
    assert refused.value.code == "subject_form" and refused.value.article == "GM 18"


def test_masking_keeps_the_kind_and_masks_the_number() -> None:
    assert mask_subject("resident_id:11010519491231002X", lambda n: n[:6] + "*" * 12) == (
        "resident_id:110105************"
    )
    assert mask_subject("11010519491231002X", lambda n: "*") == "*"
