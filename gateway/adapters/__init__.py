"""Adapters: the hub's only code that talks to the outside world (database, XML, crypto, network)."""
