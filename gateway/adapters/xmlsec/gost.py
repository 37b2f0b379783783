"""GOST R 34.10-2012 signatures and GOST R 34.11-2012 (Streebog) digests, computed by the system's OpenSSL.

The arithmetic runs in C, in the OpenSSL GOST engine (Debian's ``libengine-gost-openssl``, ``gost.so``),
reached through the system's ``libcrypto.so.3`` with ctypes. Why not the alternatives: the
``cryptography`` package bundles its own OpenSSL and loads no engines or third-party providers; the
pure-Python ``gostcrypto`` took 122 ms per verification where the issue was measured (and its wheel
installs a top-level ``tests`` package, which would shadow this repository's). Through the engine a
verification of the signature value takes ~0.13 ms here (``bench/signature.py``). The engine, not
the OpenSSL 3 provider ``gostprov.so``: the engine is what ``openssl`` itself loads with
``-engine gost`` in the tests' counterpart, so both sides run the same, widely deployed code.

Only what the hub needs is bound: a digest, one signature made or checked over given bytes with a
certificate's key, and a certificate chain built and checked by OpenSSL's own path validation
(``X509_verify_cert``), which checks the GOST signatures on the certificates through the engine.

Where the engine is missing, :func:`provider` returns None and :func:`unavailable_reason` says which
package to install; nothing here raises at import.
"""

from __future__ import annotations

import ctypes
import threading
from datetime import datetime

PACKAGE = "libengine-gost-openssl"
# Names the engine registers its Streebog digests under, by XMLDSig digest size.
DIGESTS = {256: b"md_gost12_256", 512: b"md_gost12_512"}
# The engine's method groups the hub uses: digests, public-key methods and their ASN.1 (key and
# certificate parsing). Ciphers and TLS are left alone: the process's other users of libcrypto
# (Python's ssl and hashlib modules) keep their defaults.
_ENGINE_METHODS = 0x80 | 0x200 | 0x400
_X509_V_FLAG_PARTIAL_CHAIN = 0x80000

_vp = ctypes.c_void_p
_lock = threading.Lock()
_reason: str | None = None


class GostError(Exception):
    """A GOST operation could not be carried out (unreadable key or certificate, engine failure)."""


def _bind(lib: ctypes.CDLL) -> None:
    """Declare the prototypes once: ctypes' default int return type would truncate pointers."""
    signatures = {
        "ENGINE_by_id": (_vp, [ctypes.c_char_p]),
        "ENGINE_init": (ctypes.c_int, [_vp]),
        "ENGINE_set_default": (ctypes.c_int, [_vp, ctypes.c_uint]),
        "EVP_get_digestbyname": (_vp, [ctypes.c_char_p]),
        "EVP_MD_CTX_new": (_vp, []),
        "EVP_MD_CTX_free": (None, [_vp]),
        "EVP_Digest": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_uint), _vp, _vp]),
        "EVP_DigestVerifyInit": (ctypes.c_int, [_vp, _vp, _vp, _vp, _vp]),
        "EVP_DigestVerify": (ctypes.c_int, [_vp, ctypes.c_char_p, ctypes.c_size_t,
                                            ctypes.c_char_p, ctypes.c_size_t]),
        "EVP_DigestSignInit": (ctypes.c_int, [_vp, _vp, _vp, _vp, _vp]),
        "EVP_DigestSign": (ctypes.c_int, [_vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
                                          ctypes.c_char_p, ctypes.c_size_t]),
        "EVP_PKEY_free": (None, [_vp]),
        "BIO_new_mem_buf": (_vp, [ctypes.c_char_p, ctypes.c_int]),
        "BIO_free": (ctypes.c_int, [_vp]),
        "PEM_read_bio_PrivateKey": (_vp, [_vp, _vp, _vp, _vp]),
        "d2i_X509": (_vp, [_vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "X509_free": (None, [_vp]),
        "X509_get0_pubkey": (_vp, [_vp]),
        "X509_STORE_new": (_vp, []),
        "X509_STORE_free": (None, [_vp]),
        "X509_STORE_add_cert": (ctypes.c_int, [_vp, _vp]),
        "X509_STORE_set_flags": (ctypes.c_int, [_vp, ctypes.c_ulong]),
        "X509_STORE_CTX_new": (_vp, []),
        "X509_STORE_CTX_free": (None, [_vp]),
        "X509_STORE_CTX_init": (ctypes.c_int, [_vp, _vp, _vp, _vp]),
        "X509_STORE_CTX_set_time": (None, [_vp, ctypes.c_ulong, ctypes.c_int64]),
        "X509_STORE_CTX_get_error": (ctypes.c_int, [_vp]),
        "X509_verify_cert_error_string": (ctypes.c_char_p, [ctypes.c_long]),
        "X509_verify_cert": (ctypes.c_int, [_vp]),
        "OPENSSL_sk_new_null": (_vp, []),
        "OPENSSL_sk_push": (ctypes.c_int, [_vp, _vp]),
        "OPENSSL_sk_free": (None, [_vp]),
        "ERR_clear_error": (None, []),
    }  # fmt: skip
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes


class Gost:
    """The bound libcrypto with the GOST engine made the default for its digests and key methods."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._keys: dict[bytes, int] = {}
        self._digests = {bits: lib.EVP_get_digestbyname(name) for bits, name in DIGESTS.items()}
        if not all(self._digests.values()):
            raise GostError("the GOST engine registered no Streebog digests")

    def digest(self, bits: int, data: bytes) -> bytes:
        out = ctypes.create_string_buffer(64)
        size = ctypes.c_uint(0)
        if self._lib.EVP_Digest(data, len(data), out, ctypes.byref(size), self._digests[bits], None) != 1:
            raise GostError("Streebog digest failed")
        return out.raw[: size.value]

    def verify(self, certificate_der: bytes, bits: int, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (s‖r, as the engine and RFC 4491 lay it out) signs ``data`` with the key
        of ``certificate_der``, hashed with Streebog-``bits``."""
        with _X509(self._lib, certificate_der) as certificate:
            key = self._lib.X509_get0_pubkey(certificate.pointer)
            if not key:
                raise GostError("the certificate's public key cannot be read")
            ctx = self._lib.EVP_MD_CTX_new()
            try:
                if self._lib.EVP_DigestVerifyInit(ctx, None, self._digests[bits], None, key) != 1:
                    raise GostError("the key does not take this digest")
                ok = self._lib.EVP_DigestVerify(ctx, signature, len(signature), data, len(data)) == 1
            finally:
                self._lib.EVP_MD_CTX_free(ctx)
                self._lib.ERR_clear_error()
        return ok

    def sign(self, key_pem: bytes, bits: int, data: bytes) -> bytes:
        key = self._private_key(key_pem)
        ctx = self._lib.EVP_MD_CTX_new()
        try:
            if self._lib.EVP_DigestSignInit(ctx, None, self._digests[bits], None, key) != 1:
                raise GostError("the key does not take this digest")
            size = ctypes.c_size_t(0)
            if self._lib.EVP_DigestSign(ctx, None, ctypes.byref(size), data, len(data)) != 1:
                raise GostError("GOST signing failed")
            out = ctypes.create_string_buffer(size.value)
            if self._lib.EVP_DigestSign(ctx, out, ctypes.byref(size), data, len(data)) != 1:
                raise GostError("GOST signing failed")
            return out.raw[: size.value]
        finally:
            self._lib.EVP_MD_CTX_free(ctx)

    def _private_key(self, key_pem: bytes) -> int:
        """Parsed once per key and kept: a signer (the hub, a bench) signs with the same few keys."""
        if key_pem in self._keys:
            return self._keys[key_pem]
        bio = self._lib.BIO_new_mem_buf(key_pem, len(key_pem))
        try:
            key = self._lib.PEM_read_bio_PrivateKey(bio, None, None, None)
        finally:
            self._lib.BIO_free(bio)
        if not key:
            self._lib.ERR_clear_error()
            raise GostError("the GOST private key cannot be read")
        self._keys[key_pem] = key
        return key

    def trust_store(self, anchors_der: list[bytes]) -> TrustStore:
        return TrustStore(self._lib, anchors_der)


class _X509:
    """A certificate parsed by libcrypto for the length of a ``with`` block."""

    def __init__(self, lib: ctypes.CDLL, der: bytes) -> None:
        self._lib = lib
        buffer = ctypes.c_char_p(der)
        self.pointer = lib.d2i_X509(None, ctypes.byref(buffer), len(der))
        if not self.pointer:
            lib.ERR_clear_error()
            raise GostError("the certificate cannot be parsed")

    def __enter__(self) -> _X509:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._lib.X509_free(self.pointer)


class TrustStore:
    """The trust anchors as an OpenSSL ``X509_STORE``, built once; a chain is checked against it by
    OpenSSL's path validation, so GOST-signed certificates are verified through the engine.

    Anchors need not be self-signed (partial chains allowed), as with the ``cryptography`` store the
    other suites use: whatever the operator put in the bundle is trusted as is.
    """

    def __init__(self, lib: ctypes.CDLL, anchors_der: list[bytes]) -> None:
        self._lib = lib
        self._store = lib.X509_STORE_new()
        lib.X509_STORE_set_flags(self._store, _X509_V_FLAG_PARTIAL_CHAIN)
        for der in anchors_der:
            with _X509(lib, der) as anchor:
                lib.X509_STORE_add_cert(self._store, anchor.pointer)  # the store takes its own reference

    def __del__(self) -> None:
        store, self._store = getattr(self, "_store", None), None
        if store:
            self._lib.X509_STORE_free(store)

    def check(self, leaf_der: bytes, intermediates_der: list[bytes], at: datetime) -> str | None:
        """None when ``leaf_der`` chains to an anchor at ``at``; otherwise OpenSSL's reason."""
        lib = self._lib
        parsed = [_X509(lib, der) for der in [leaf_der, *intermediates_der]]
        untrusted = lib.OPENSSL_sk_new_null()
        ctx = lib.X509_STORE_CTX_new()
        try:
            for certificate in parsed[1:]:
                lib.OPENSSL_sk_push(untrusted, certificate.pointer)
            if lib.X509_STORE_CTX_init(ctx, self._store, parsed[0].pointer, untrusted) != 1:
                return "the certificate chain cannot be set up"
            lib.X509_STORE_CTX_set_time(ctx, 0, int(at.timestamp()))
            if lib.X509_verify_cert(ctx) == 1:
                return None
            return lib.X509_verify_cert_error_string(lib.X509_STORE_CTX_get_error(ctx)).decode()
        finally:
            lib.X509_STORE_CTX_free(ctx)
            lib.OPENSSL_sk_free(untrusted)
            for certificate in parsed:
                certificate.__exit__()
            lib.ERR_clear_error()


_provider: Gost | None = None
_loaded = False


def provider() -> Gost | None:
    """The GOST provider of this process, or None when the system's OpenSSL has no GOST engine."""
    global _provider, _loaded, _reason
    with _lock:
        if not _loaded:
            _loaded = True
            try:
                _provider = _load()
            except (OSError, AttributeError, GostError) as exc:
                _reason = f"GOST signatures unavailable ({exc}): install the {PACKAGE} package"
        return _provider


def unavailable_reason() -> str | None:
    """One line naming the package to install, or None when GOST works."""
    provider()
    return _reason


def _load() -> Gost:
    lib = ctypes.CDLL("libcrypto.so.3")  # OpenSSL 3, where Debian's engine is built for
    _bind(lib)
    engine = lib.ENGINE_by_id(b"gost")
    if not engine:
        lib.ERR_clear_error()
        raise GostError("OpenSSL finds no engine named gost")
    if lib.ENGINE_init(engine) != 1 or lib.ENGINE_set_default(engine, _ENGINE_METHODS) != 1:
        raise GostError("the gost engine does not initialise")
    return Gost(lib)
