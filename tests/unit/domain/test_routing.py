from gateway.domain.model import Agency, JurisdictionProfile, RoutingRule
from gateway.domain.routing import agency_rules, route

RULES = [
    RoutingRule("MINSTROY", "0005", "97"),
    RoutingRule("CHEB", "0005.0005.0056", "97701"),
    RoutingRule("ANY-HOUSING", "0005", ""),
    RoutingRule("B-TIE", "0003.0009", "97"),
    RoutingRule("A-TIE", "0003.0009", "97"),
]
KNOWN = frozenset({"MINSTROY", "CHEB", "ANY-HOUSING", "A-TIE", "B-TIE"})


def test_addressee_chosen_by_the_applicant_wins_over_rules():
    assert route("0005.0005.0056.1149", "97701000", RULES, "MINSTROY", KNOWN) == "MINSTROY"


def test_unknown_addressee_falls_back_to_rules():
    assert route("0005.0005.0056.1149", "97701000", RULES, "NOBODY", KNOWN) == "CHEB"


def test_most_specific_topic_wins():
    assert route("0005.0005.0056.1149", "97701000", RULES) == "CHEB"


def test_territory_specificity_breaks_equal_topics():
    assert route("0005.0001.0001.0001", "97000000", RULES) == "MINSTROY"
    assert route("0005.0001.0001.0001", "45000000", RULES) == "ANY-HOUSING"


def test_ties_are_deterministic_by_agency_code():
    assert route("0003.0009.0001.0001", "97000000", RULES) == "A-TIE"
    assert route("0003.0009.0001.0001", "97000000", list(reversed(RULES))) == "A-TIE"


def test_topic_prefix_matches_whole_blocks_only():
    assert route("0005.0005.00561.1149", "97701000", [RoutingRule("CHEB", "0005.0005.0056", "97701")]) is None


def test_no_rule_means_manual_routing():
    assert route("0001.0001.0001.0001", "97000000", RULES) is None


def test_agency_without_prefixes_is_never_a_catch_all():
    agency = Agency("X", "X", JurisdictionProfile.RU_59FZ, "Europe/Moscow")
    assert agency_rules(agency) == []


def test_agency_rules_are_topics_times_territories():
    agency = Agency(
        "X",
        "X",
        JurisdictionProfile.RU_59FZ,
        "Europe/Moscow",
        topic_prefixes=("1", "2"),
        territory_prefixes=("9",),
    )
    assert agency_rules(agency) == [RoutingRule("X", "1", "9"), RoutingRule("X", "2", "9")]
