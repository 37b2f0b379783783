"""XML at the trust boundary: hardened parsing, the envelope codec, XMLDSig verification and signing."""
