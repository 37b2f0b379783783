"""Which agency must answer an appeal.

The applicant's chosen addressee wins when it exists. Otherwise the rules on topic prefix ×
territory prefix decide: the most specific rule wins (longest topic prefix, then longest
territory prefix), and a tie is broken by agency code so the outcome never depends on load
order. No rule → ``None``: an operator decides (the manual-routing queue).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.domain.model import Agency, RoutingRule


def _topic_prefix_matches(prefix: str, topic_code: str) -> bool:
    """Prefixes match whole blocks: ``0005.0005`` matches ``0005.0005.0056.1149``, not ``0005.00051…``."""
    if not prefix:
        return True
    return topic_code == prefix or topic_code.startswith(prefix + ".")


def route(
    topic_code: str,
    territory_code: str,
    rules: Iterable[RoutingRule],
    addressee_code: str | None = None,
    known_agencies: frozenset[str] = frozenset(),
) -> str | None:
    """The competent agency's code, or ``None`` when an operator must decide."""
    if addressee_code and addressee_code in known_agencies:
        return addressee_code
    best: tuple[tuple[int, int], str] | None = None
    for rule in rules:
        if not _topic_prefix_matches(rule.topic_prefix, topic_code):
            continue
        if not territory_code.startswith(rule.territory_prefix):
            continue
        specificity = (len(rule.topic_prefix), len(rule.territory_prefix))
        if best is None or specificity > best[0] or (specificity == best[0] and rule.agency_code < best[1]):
            best = (specificity, rule.agency_code)
    return best[1] if best else None


def agency_rules(agency: Agency) -> list[RoutingRule]:
    """An agency answers for each of its topics in each of its territories.

    An empty list on one side means "any"; an agency with neither gets appeals only by being
    chosen as the addressee or assigned by an operator — never as a catch-all.
    """
    if not agency.topic_prefixes and not agency.territory_prefixes:
        return []
    return [
        RoutingRule(agency.code, topic, territory)
        for topic in agency.topic_prefixes or ("",)
        for territory in agency.territory_prefixes or ("",)
    ]
