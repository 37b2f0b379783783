"""The lifecycle refuses every move the law and the protocol do not allow, naming the current state."""

from __future__ import annotations

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState, Transition, advance, reachable, sources, target

S, T = AppealState, Transition


@pytest.mark.parametrize(
    ("state", "transition", "after"),
    [
        (S.RECEIVED, T.ASSIGN, S.ROUTED),
        (S.ROUTED, T.LEASE, S.DELIVERED),
        (S.DELIVERED, T.ACKNOWLEDGE, S.ACKNOWLEDGED),
        (S.ROUTED, T.REGISTER, S.REGISTERED),
        (S.DELIVERED, T.REGISTER, S.REGISTERED),
        (S.ACKNOWLEDGED, T.REGISTER, S.REGISTERED),
        (S.REDIRECTED, T.LEASE, S.DELIVERED),
        (S.REGISTERED, T.ASSIGN_EXECUTOR, S.IN_PROGRESS),
        (S.EXTENDED, T.ASSIGN_EXECUTOR, S.IN_PROGRESS),
        (S.IN_PROGRESS, T.EXTEND, S.EXTENDED),
        (S.IN_PROGRESS, T.REDIRECT, S.REDIRECTED),
        (S.EXTENDED, T.ANSWER, S.ANSWERED),
        (S.REGISTERED, T.DECLINE, S.DECLINED),
        (S.ANSWERED, T.CLOSE, S.CLOSED),
        (S.DECLINED, T.CLOSE, S.CLOSED),
        (S.ROUTED, T.WITHDRAW, S.WITHDRAWN),
        (S.EXTENDED, T.WITHDRAW, S.WITHDRAWN),
    ],
)
def test_allowed_moves(state, transition, after):
    assert advance(state, transition) is after
    assert state in sources(transition)
    assert target(transition) is after


@pytest.mark.parametrize(
    ("state", "transition"),
    [
        (S.ROUTED, T.ASSIGN),
        (S.REGISTERED, T.ASSIGN),
        (S.RECEIVED, T.LEASE),
        (S.RECEIVED, T.REGISTER),
        (S.REGISTERED, T.REGISTER),
        (S.ROUTED, T.ACKNOWLEDGE),
        (S.ACKNOWLEDGED, T.ASSIGN_EXECUTOR),  # not registered yet
        (S.EXTENDED, T.EXTEND),
        (S.ACKNOWLEDGED, T.REDIRECT),  # 59-FZ counts the redirect window from registration
        (S.IN_PROGRESS, T.CLOSE),  # closing needs an answer or a decline
        (S.ANSWERED, T.WITHDRAW),
        (S.CLOSED, T.WITHDRAW),
        (S.WITHDRAWN, T.REGISTER),
    ],
)
def test_refused_moves_name_the_current_state(state, transition):
    with pytest.raises(Rejection) as refused:
        advance(state.value, transition, "/type")
    assert refused.value.code is Code.ILLEGAL_TRANSITION
    assert state.value in refused.value.detail
    assert refused.value.pointer == "/type"


@pytest.mark.parametrize(
    ("current", "later", "expected"),
    [
        (S.REGISTERED, S.ANSWERED, True),  # sparse: in progress in between, unreported
        (S.REGISTERED, S.CLOSED, True),
        (S.IN_PROGRESS, S.IN_PROGRESS, True),  # an executor re-assigned
        (S.EXTENDED, S.IN_PROGRESS, True),
        (S.ROUTED, S.ANSWERED, True),
        (S.ANSWERED, S.CLOSED, True),
        (S.CLOSED, S.IN_PROGRESS, False),
        (S.CLOSED, S.CLOSED, False),
        (S.ANSWERED, S.ANSWERED, False),  # never answered twice
        (S.ANSWERED, S.DECLINED, False),
        (S.DECLINED, S.ANSWERED, False),
        (S.WITHDRAWN, S.REGISTERED, False),
        (S.ANSWERED, S.WITHDRAWN, False),  # too late to withdraw
    ],
)
def test_reachable_follows_paths_of_the_graph(current, later, expected):
    assert reachable(current, later) is expected
    assert reachable(current.value, later.value) is expected


def test_reachable_only_through_the_transitions_given():
    # Through every transition a redirected appeal is registered again (by the competent agency);
    # without the mailbox's moves, a redirect ends the story.
    assert reachable(S.REDIRECTED, S.REGISTERED)
    assert reachable(S.REGISTERED, S.REGISTERED)
    without_mailbox = frozenset(T) - {T.ASSIGN, T.LEASE, T.ACKNOWLEDGE, T.REGISTER}
    assert not reachable(S.REDIRECTED, S.REGISTERED, without_mailbox)
    assert not reachable(S.REGISTERED, S.REGISTERED, without_mailbox)
    assert reachable(S.REGISTERED, S.ANSWERED, without_mailbox)
