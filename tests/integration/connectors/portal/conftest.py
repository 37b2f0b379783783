"""The cabinet connectors against the fake cabinet, over real sockets on 127.0.0.1; no database.

``connect`` and ``connector`` run each test through both variants (REST and SOAP) and both
versions of the contract (2, and 1 kept while cabinets migrate); every test gets its own fake
cabinet and a fresh appeal id, so no test sees another's updates.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import pytest

from connectors.portal.cabinet_rest import CabinetRestConnector
from connectors.portal.cabinet_soap import CabinetSoapConnector
from gateway.adapters.pki import issue_certificate
from gateway.simulators.cabinet import FakeCabinet

TIMEOUT = 5.0


@pytest.fixture(scope="session")
def hub(dev_pki) -> tuple[bytes, bytes]:
    """The hub's key and certificate (RSA) from the session's dev PKI."""
    return dev_pki.hub_key.read_bytes(), dev_pki.hub_cert.read_bytes()


@pytest.fixture(scope="session")
def impostor(root_ca) -> tuple[bytes, bytes]:
    """A key and certificate from the hub's own CA, but not the hub's: the cabinet must refuse it."""
    return issue_certificate(*root_ca, "Not The Hub (dev)")


@pytest.fixture(params=[2, 1], ids=["contract2", "contract1"])
def contract(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def cabinet(hub, contract: int) -> Iterator[FakeCabinet]:
    with FakeCabinet(hub[1], contract=contract) as fake:
        yield fake


ConnectorFactory = Callable[..., CabinetRestConnector | CabinetSoapConnector]


@pytest.fixture(params=["rest", "soap"])
def variant(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connect(variant: str, hub, contract: int) -> Iterator[ConnectorFactory]:
    """Build the variant's connector to a fake cabinet, by default as the hub; closed afterwards."""
    made: list[CabinetRestConnector | CabinetSoapConnector] = []

    def factory(
        cabinet: FakeCabinet | str,
        credentials: tuple[bytes, bytes] | None = None,
        *,
        timeout: float = TIMEOUT,
    ) -> CabinetRestConnector | CabinetSoapConnector:
        key, cert = credentials or hub
        if variant == "rest":
            url = cabinet if isinstance(cabinet, str) else cabinet.url
            connector: CabinetRestConnector | CabinetSoapConnector = CabinetRestConnector(
                url, key, cert, timeout=timeout, contract=contract
            )
        else:
            url = cabinet + "/soap" if isinstance(cabinet, str) else cabinet.soap_url
            connector = CabinetSoapConnector(url, key, cert, timeout=timeout, contract=contract)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()


@pytest.fixture
def connector(connect, cabinet):
    return connect(cabinet)


@pytest.fixture
def appeal_id() -> UUID:
    return uuid4()


@pytest.fixture
def closed_port() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
