"""Applicants' mail and SMS: the SMTP connector and its templates, the IMAP poller's client,
SMPP (see connectors/README.md)."""
