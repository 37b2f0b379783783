"""The pure domain: appeals, agencies, routing, identity policy. No I/O is imported here."""
