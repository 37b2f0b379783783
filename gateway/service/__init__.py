"""The service layer: every operation of the hub, written once, behind every face (REST, SOAP, CLI, tasks)."""
