"""Every refusal code reads in Russian and English; the published schema lists each with the same words."""

from __future__ import annotations

from lxml import etree

from gateway.config import PROJECT_ROOT
from gateway.domain.error_messages import INTERNAL_ERROR, MESSAGES
from gateway.domain.errors import Code

XS = "{http://www.w3.org/2001/XMLSchema}"
CYRILLIC = set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")


def test_every_code_has_a_russian_and_an_english_sentence():
    assert set(MESSAGES) == {c.value for c in Code} | {INTERNAL_ERROR}
    for code, (ru, en) in MESSAGES.items():
        assert CYRILLIC & set(ru.lower()), code
        assert en.isascii() and en.endswith("."), code


def test_the_schema_lists_every_code_with_its_meaning():
    schema = etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd"))
    (code,) = [
        e
        for e in schema.iter(f"{XS}element")
        if e.get("name") == "Code" and e.getparent().getparent().getparent().get("name") == "Error"
    ]
    listed = code.find(f"{XS}annotation/{XS}documentation").text
    for name, (ru, en) in MESSAGES.items():
        assert f"{name}: {ru} / {en}" in listed, name
