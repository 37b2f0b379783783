"""Push delivery of appeals to agencies registered ``push-soap``: ``push.SoapPushConnector``.

The contract the agency implements is ``schemas/sed-push-1.wsdl``; ``gateway.simulators.edms_push``
plays such an agency for tests.
"""
