"""What the published OpenAPI document promises every integrator, whatever the operation."""

from __future__ import annotations

import re
import sys

import jsonschema
import pytest

from gateway.config import Settings
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import check_registration_number
from gateway.domain.text import refused_character
from gateway.faces.rest.app import create_app
from gateway.faces.rest.contract import TEXT_PATTERN


@pytest.fixture(scope="module")
def document() -> dict:
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    return app.openapi_schema.to_schema()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_refusal_is_a_problem_document_with_the_codes_enumerated(document):
    problem = document["components"]["schemas"]["ProblemDocument"]
    assert problem["properties"]["code"] == {"$ref": "#/components/schemas/Code"}
    assert set(document["components"]["schemas"]["Code"]["enum"]) == {c.value for c in Code}
    for method, path, operation in _operations(document):
        if (method, path) == ("POST", "/sed/soap/v1"):
            continue  # SOAP answers faults as text/xml (SOAP 1.1), the WSDL being its contract
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and (method, path, status) != ("GET", "/health/ready", "503"):
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ProblemDocument"}, (method, path, status)
        assert "503" in operation["responses"] or (method, path) == ("GET", "/health/live"), (method, path)


@pytest.mark.parametrize(
    ("prefix", "scheme"),
    [
        ("/sed/v1/", "agencyBearer"),
        ("/ops/v1/", "operatorBearer"),
        ("/portal/v1/appeals/", "portalBearer"),
        ("/analytics/v1/", "analystBearer"),
    ],
)
def test_each_face_names_its_bearer_scheme(document, prefix, scheme):
    assert document["components"]["securitySchemes"][scheme] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"][scheme]["description"],
    }
    faced = [(m, p, o) for m, p, o in _operations(document) if p.startswith(prefix)]
    assert faced
    for method, path, operation in faced:
        assert operation["security"] == [{scheme: []}], (method, path)
        assert "401" in operation["responses"], (method, path)


def test_bodies_read_by_hand_are_described_and_downloads_are_binary(document):
    push = document["paths"]["/portal/v1/appeals"]["post"]
    assert set(push["requestBody"]["content"]) == {"application/xml", "multipart/form-data"}
    assert "security" not in push  # the portal's signature on the envelope is the credential
    download = document["paths"]["/sed/v1/appeals/{appeal_id}/attachments/{n}"]["get"]["responses"]["200"]
    assert download["content"]["*/*"]["schema"] == {"type": "string", "format": "binary"}
    parquet = document["paths"]["/analytics/v1/export.parquet"]["get"]["responses"]["200"]
    assert parquet["content"] == {
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}
    }
    lookup = document["paths"]["/public/v1/status"]["get"]["responses"]["429"]
    assert "Retry-After" in lookup["headers"]


def test_the_text_pattern_is_the_hubs_text_rule_character_for_character():
    allowed = re.compile(TEXT_PATTERN[1:-1].removesuffix("*"))  # the class, as Python reads the same escapes
    for code in (*range(0xD800), *range(0xE000, sys.maxunicode + 1)):  # surrogates: no JSON Schema string
        char = chr(code)
        assert bool(allowed.fullmatch(char)) == (refused_character(char) is None), hex(code)


@pytest.mark.parametrize(
    "value",
    ["П-2026-000457", " w-1 \u00a0", "a b", "x" * 64, "x" * 65, "", "   ", "a\tb", "a\u200bb", "\U00034043"],
)
def test_a_registration_number_is_valid_in_the_document_exactly_when_the_hub_takes_it(document, value):
    schema = {**document["components"]["schemas"]["RegistrationNumber"], "components": document["components"]}
    try:
        check_registration_number(value)
        taken = True
    except Rejection:
        taken = False
    assert jsonschema.Draft202012Validator(schema).is_valid(value) == taken


def test_every_string_a_request_carries_keeps_the_text_rule(document):
    def strings(schema, seen):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                yield from strings(document["components"]["schemas"][name], seen)
            return
        for key in ("oneOf", "anyOf", "allOf"):
            for branch in schema.get(key, []):
                yield from strings(branch, seen)
        for member in schema.get("properties", {}).values():
            yield from strings(member, seen)
        if isinstance(schema.get("items"), dict):
            yield from strings(schema["items"], seen)
        if schema.get("type") == "string" and not {"format", "enum", "const"} & set(schema):
            yield schema
        if schema.get("type") == "object":
            assert "propertyNames" in schema and "additionalProperties" in schema, schema.get("title")

    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):  # bounded by the HTTP head, not by maxLength
            assert all(s.get("pattern") for s in strings(parameter["schema"], set())), (method, path)
        for content in operation.get("requestBody", {}).get("content", {}).values():
            for string in strings(content["schema"], set()):
                assert string.get("pattern") and string.get("maxLength"), (method, path, string)
