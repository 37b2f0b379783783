"""The lifecycle refuses every move the law and the protocol do not allow, naming the current state."""

from __future__ import annotations

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState, Transition, advance, sources, target

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
    ],
)
def test_refused_moves_name_the_current_state(state, transition):
    with pytest.raises(Rejection) as refused:
        advance(state.value, transition, "/type")
    assert refused.value.code is Code.ILLEGAL_TRANSITION
    assert state.value in refused.value.detail
    assert refused.value.pointer == "/type"
