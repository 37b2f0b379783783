"""The agencies' EDMS face over SOAP 1.1, WSDL-first (``schemas/sed-service-1.wsdl``).

Like the REST face it only translates: wire ⇄ the service layer's calls and dataclasses. The
contract (WSDL and XSD) is the source of truth; requests are validated against it before anything
else happens, and every refusal is a SOAP Fault carrying the hub's stable error code.
"""
