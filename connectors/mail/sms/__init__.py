"""SMS notifications to applicants over SMPP 3.4: the connector (connector.py), its text
(text.py, encoding.py), what the SMSC's answers mean (smpp.py) and the receipt listener (receipts.py)."""

APPLICANT_SMS = "applicant-sms"
"""The outbox connector name of an applicant's SMS notification."""
