"""Status updates and answers to the citizen's cabinet: ``CabinetRestConnector``, ``CabinetSoapConnector``.

The contract the portal implements is ``schemas/cabinet-callback-1.*`` (OpenAPI and WSDL);
``gateway.simulators.cabinet`` plays such a cabinet for tests.
"""
