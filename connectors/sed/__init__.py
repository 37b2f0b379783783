"""Planned in the return-path issue; see connectors/README.md."""
