"""Applicants' mail and SMS: the SMTP connector, its templates, the IMAP poller's client and SMPP (see connectors/README.md)."""
