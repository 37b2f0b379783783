"""The command line face: ``appeals-gateway …``."""
