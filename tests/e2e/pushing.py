"""Filling mailboxes the real way: sample appeals pushed through the portal's face."""

from __future__ import annotations

import httpx

from gateway.simulators.portal import Portal, push
from gateway.simulators.samples import sample_appeal


def push_samples(client: httpx.Client, portal: Portal, n: int = 1, **kwargs) -> list[str]:
    """Push ``n`` sample appeals (``kwargs`` go to ``sample_appeal``); their hub ids, in order."""
    ids = []
    for i in range(n):
        response = push(client, portal.envelope(sample_appeal(i, **kwargs)))
        assert response.status_code == 201, response.text
        ids.append(response.json()["appeal_id"])
    return ids
