"""The pure rules of screening: declared against sniffed types, the list, archives' budget."""

from __future__ import annotations

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.screening import (
    DEFAULT_MEDIA_TYPES,
    ArchiveBudget,
    ArchiveLimits,
    check_declared,
    check_member,
    matches,
    normalise,
)

AT = "/Message/Appeal/Attachments/Attachment[1]"


@pytest.mark.parametrize(
    ("given", "name"),
    [("Image/JPG", "image/jpeg"), ("text/rtf", "application/rtf"),
     ("application/x-zip-compressed", "application/zip"), ("text/plain; charset=utf-8", "text/plain")],
)  # fmt: skip
def test_spellings_fold_to_one_name(given, name):
    assert normalise(given) == name


@pytest.mark.parametrize(
    ("declared", "sniffed", "ok"),
    [
        ("application/pdf", "application/pdf", True),
        ("application/rtf", "text/rtf", True),
        ("application/msword", "application/CDFV2", True),
        ("text/plain", "text/csv", True),
        ("text/plain", "application/x-empty", True),
        ("application/pdf", "image/png", False),
        ("text/plain", "text/x-shellscript", False),
        ("application/zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", False),
    ],
)
def test_declared_against_sniffed(declared, sniffed, ok):
    assert matches(declared, sniffed) is ok


def test_a_type_off_the_list_is_refused_before_its_bytes_are_looked_at():
    with pytest.raises(Rejection) as caught:
        check_declared("application/x-msdownload", "application/x-msdownload", DEFAULT_MEDIA_TYPES, AT)
    assert (caught.value.code, caught.value.pointer) == (Code.ATTACHMENT_TYPE_NOT_ALLOWED, AT)


def test_a_member_must_be_of_some_allowed_type():
    check_member("image/png", DEFAULT_MEDIA_TYPES, "3", AT)
    with pytest.raises(Rejection, match="archive member 2/1 is text/html"):
        check_member("text/html", DEFAULT_MEDIA_TYPES, "2/1", AT)


def test_the_budget_counts_depth_members_and_bytes_as_they_come():
    budget = ArchiveBudget(ArchiveLimits(max_depth=2, max_members=2, max_expanded_bytes=10), AT)
    budget.enter(2)
    budget.member()
    budget.member()
    budget.grow(6)
    budget.grow(4)
    for step in (lambda: budget.enter(3), budget.member, lambda: budget.grow(1)):
        with pytest.raises(Rejection) as caught:
            step()
        assert (caught.value.code, caught.value.pointer) == (Code.ATTACHMENT_ARCHIVE_LIMIT, AT)
