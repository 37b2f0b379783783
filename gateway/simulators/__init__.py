"""Stand-ins for the systems the hub serves but does not run: the portal and an agency's EDMS.

They speak to the hub only over HTTP, exactly as the real ones would, and are used by
``appeals-gateway demo``, the end-to-end tests and the benchmarks.
"""
