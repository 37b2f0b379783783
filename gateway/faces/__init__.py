"""Faces: thin translations between a wire protocol (REST, SOAP, CLI) and the service layer."""
