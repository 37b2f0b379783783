"""Clients of systems the hub does not run: the portal's cabinet, agencies' EDMS (push mode), mail."""
