"""The appeal's lifecycle: which state follows which, and refusals that name the current state.

States are the hub's view of where an appeal is (what the applicant sees in the cabinet); the
agency's own workflow is richer. Every move is checked here, so no face and no service can put an
appeal where the law does not allow.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache

from gateway.domain.errors import Code, Rejection


class AppealState(StrEnum):
    RECEIVED = "received"  # stored, no agency yet: waits in the manual-routing queue
    ROUTED = "routed"  # in the competent agency's mailbox
    DELIVERED = "delivered"  # leased by the agency's EDMS at least once
    ACKNOWLEDGED = "acknowledged"  # the EDMS confirmed it took the message
    REGISTERED = "registered"  # the agency registered it under its own number
    IN_PROGRESS = "in-progress"  # an executor is assigned
    EXTENDED = "extended"  # the answer's due date was moved, with a reason
    REDIRECTED = "redirected"  # forwarded to the competent agency: in that agency's mailbox
    ANSWERED = "answered"  # the signed answer is in
    DECLINED = "declined"  # no answer on the merits, on a legal ground
    CLOSED = "closed"  # the agency closed the case
    WITHDRAWN = "withdrawn"  # the applicant withdrew it through the portal


class Transition(StrEnum):
    ASSIGN = "assign"  # an operator routes an appeal no rule could
    LEASE = "lease"
    ACKNOWLEDGE = "acknowledge"
    REGISTER = "register"
    ASSIGN_EXECUTOR = "assign an executor to"
    EXTEND = "extend"
    REDIRECT = "redirect"
    ANSWER = "answer"
    DECLINE = "decline"
    CLOSE = "close"
    WITHDRAW = "withdraw"


S = AppealState
# Before registration the agency has not taken the appeal on; after it, it works on it.
_IN_MAILBOX = frozenset({S.ROUTED, S.REDIRECTED, S.DELIVERED, S.ACKNOWLEDGED})
_BEING_WORKED = frozenset({S.REGISTERED, S.IN_PROGRESS, S.EXTENDED})
FINAL = frozenset({S.CLOSED, S.WITHDRAWN})

_ALLOWED: dict[Transition, tuple[frozenset[AppealState], AppealState]] = {
    Transition.ASSIGN: (frozenset({S.RECEIVED}), S.ROUTED),
    Transition.LEASE: (frozenset({S.ROUTED, S.REDIRECTED}), S.DELIVERED),
    Transition.ACKNOWLEDGE: (frozenset({S.DELIVERED}), S.ACKNOWLEDGED),
    # An EDMS may register before it acknowledges (it registered, then crashed before acking).
    Transition.REGISTER: (_IN_MAILBOX, S.REGISTERED),
    Transition.ASSIGN_EXECUTOR: (_BEING_WORKED, S.IN_PROGRESS),
    # 59-FZ art. 12 p.2 allows one extension: the legal clock counts them (an executor may be
    # assigned after an extension, which makes the appeal in-progress again).
    Transition.EXTEND: (frozenset({S.REGISTERED, S.IN_PROGRESS}), S.EXTENDED),
    Transition.REDIRECT: (_BEING_WORKED, S.REDIRECTED),
    Transition.ANSWER: (_BEING_WORKED, S.ANSWERED),
    Transition.DECLINE: (_BEING_WORKED, S.DECLINED),
    Transition.CLOSE: (frozenset({S.ANSWERED, S.DECLINED}), S.CLOSED),
    Transition.WITHDRAW: (frozenset(S) - FINAL - {S.ANSWERED, S.DECLINED}, S.WITHDRAWN),
}


def sources(transition: Transition) -> frozenset[AppealState]:
    """The states from which ``transition`` may be taken (for set-based SQL updates)."""
    return _ALLOWED[transition][0]


def target(transition: Transition) -> AppealState:
    return _ALLOWED[transition][1]


@cache
def _followers(state: AppealState, through: frozenset[Transition]) -> frozenset[AppealState]:
    """Every state one or more of the transitions ``through`` lead to from ``state``."""
    found: set[AppealState] = set()
    frontier = [state]
    while frontier:
        current = frontier.pop()
        for transition in through:
            allowed, after = _ALLOWED[transition]
            if current in allowed and after not in found:
                found.add(after)
                frontier.append(after)
    return frozenset(found)


def reachable(
    current: AppealState | str,
    later: AppealState | str,
    through: frozenset[Transition] = frozenset(Transition),
) -> bool:
    """Whether ``later`` can follow ``current`` by one or more of the transitions ``through``.

    Statuses kept on paper are sparse (an agency may report "registered", then only "answered"),
    so they are held to the graph's paths, not to single moves: registered → answered is fine,
    closed → in-progress never is. A state follows itself only along such a path (an executor
    re-assigned keeps an appeal in progress; an answered appeal is not answered again).
    """
    return AppealState(later) in _followers(AppealState(current), through)


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
