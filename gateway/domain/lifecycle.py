"""The appeal's lifecycle: which state follows which, and refusals that name the current state.

States are the hub's view of where an appeal is; the agency's own workflow is richer. Every
move is checked here, so no face and no service can put an appeal where the law does not allow.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.errors import Code, Rejection


class AppealState(StrEnum):
    RECEIVED = "received"  # stored, no agency yet: waits in the manual-routing queue
    ROUTED = "routed"  # in the competent agency's mailbox
    DELIVERED = "delivered"  # leased by the agency's EDMS at least once
    ACKNOWLEDGED = "acknowledged"  # the EDMS confirmed it took the message
    REGISTERED = "registered"  # the agency registered it under its own number


class Transition(StrEnum):
    ASSIGN = "assign"
    LEASE = "lease"
    ACKNOWLEDGE = "acknowledge"
    REGISTER = "register"


_ALLOWED: dict[Transition, tuple[frozenset[AppealState], AppealState]] = {
    Transition.ASSIGN: (frozenset({AppealState.RECEIVED}), AppealState.ROUTED),
    Transition.LEASE: (frozenset({AppealState.ROUTED}), AppealState.DELIVERED),
    Transition.ACKNOWLEDGE: (frozenset({AppealState.DELIVERED}), AppealState.ACKNOWLEDGED),
    # An EDMS may register before it acknowledges (it registered, then crashed before acking).
    Transition.REGISTER: (
        frozenset({AppealState.ROUTED, AppealState.DELIVERED, AppealState.ACKNOWLEDGED}),
        AppealState.REGISTERED,
    ),
}


def sources(transition: Transition) -> frozenset[AppealState]:
    """The states from which ``transition`` may be taken (for set-based SQL updates)."""
    return _ALLOWED[transition][0]


def target(transition: Transition) -> AppealState:
    return _ALLOWED[transition][1]


def advance(current: AppealState | str, transition: Transition, pointer: str | None = None) -> AppealState:
    """The state after ``transition``, or a ``Rejection(ILLEGAL_TRANSITION)`` naming the current one."""
    current = AppealState(current)
    allowed, after = _ALLOWED[transition]
    if current not in allowed:
        raise Rejection(
            Code.ILLEGAL_TRANSITION,
            f"cannot {transition.value} an appeal that is {current.value}",
            pointer,
        )
    return after
