"""The SOAP contract documents itself in Russian and English: every operation, element and value."""

from __future__ import annotations

from lxml import etree

from gateway.config import PROJECT_ROOT

XS = "{http://www.w3.org/2001/XMLSchema}"
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _cyrillic(text: str | None) -> bool:
    return any("а" <= c <= "я" or c == "ё" for c in (text or "").lower())


def test_every_element_and_value_of_the_schema_reads_in_russian_and_english():
    schema = etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd"))
    documented = [*schema.iter(f"{XS}element"), *schema.iter(f"{XS}enumeration")]
    assert len(documented) > 150
    for node in documented:
        docs = {d.get(LANG): d.text for d in node.findall(f"{XS}annotation/{XS}documentation")}
        where = node.get("name") or node.get("ref") or node.get("value")
        assert set(docs) == {"ru", "en"}, where
        assert _cyrillic(docs["ru"]) and docs["en"].strip() and not _cyrillic(docs["en"]), where


def test_every_operation_of_the_wsdl_reads_in_russian_and_english():
    wsdl = etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.wsdl"))
    operations = wsdl.findall(f"{WSDL}portType/{WSDL}operation")
    assert len(operations) == 8
    for operation in [wsdl.getroot(), *operations]:
        text = operation.findtext(f"{WSDL}documentation")
        russian, _, english = text.partition("EN:")
        assert text.strip().startswith("RU:") and _cyrillic(russian) and english.strip(), operation.get(
            "name"
        )
