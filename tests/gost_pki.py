"""A GOST PKI and GOST XMLDSig signatures made by the ``openssl`` command with the gost engine.

The independent counterpart of the hub's GOST suite: keys, the CA, certificates and every signature
here come from the openssl CLI (``genpkey``, ``req``, ``ca``, ``dgst -sign``), never from the hub's
code. Only the canonicalisation is libxml2's (through lxml), as it is for any signer on this stack.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
CPXMLSEC = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:"
GOST_METHOD = {
    256: CPXMLSEC + "gostr34102012-gostr34112012-256",
    512: CPXMLSEC + "gostr34102012-gostr34112012-512",
}
STREEBOG = {256: CPXMLSEC + "gostr34112012-256", 512: CPXMLSEC + "gostr34112012-512"}
_ALGORITHM = {256: "gost2012_256", 512: "gost2012_512"}
_PARAMSET = {256: "A", 512: "A"}

_CONFIG = """\
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[any]
commonName = supplied
organizationName = optional
OGRN = optional
OGRNIP = optional
SNILS = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_no_signing]
basicConstraints = critical,CA:false
keyUsage = critical,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args: str | Path, data: bytes | None = None) -> bytes:
    """Run ``openssl`` with the gost engine; its stdout, or an AssertionError with its stderr."""
    result = subprocess.run(
        ["openssl", *[str(a) for a in args]], input=data, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@dataclass(frozen=True)
class Issued:
    key: Path
    cert: Path

    @property
    def pems(self) -> tuple[bytes, bytes]:
        return self.key.read_bytes(), self.cert.read_bytes()


@dataclass(frozen=True)
class GostCa:
    """A GOST R 34.10-2012 CA (self-signed, Streebog-256) in ``directory``, issuing with ``openssl ca``."""

    directory: Path
    key: Path
    cert: Path

    @classmethod
    def create(cls, directory: Path, common_name: str, *, bits: int = 256) -> GostCa:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "issued").mkdir(exist_ok=True)
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "openssl.cnf").write_text(_CONFIG.format(dir=directory))
        key, cert = directory / "ca.key", directory / "ca.pem"
        _genkey(key, bits)
        openssl(
            "req", "-engine", "gost", "-config", directory / "openssl.cnf", "-x509", "-new",
            "-key", key, "-subj", f"/CN={common_name}", "-days", "3650",
            f"-md_gost12_{bits}", "-extensions", "ca_ext", "-out", cert,
        )  # fmt: skip
        return cls(directory, key, cert)

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        bits: int = 256,
        days: tuple[int, int] = (-1, 730),
        digital_signature: bool = True,
        ogrn: str | None = None,
        organisation: str | None = None,
        extra_subject: str = "",
    ) -> Issued:
        """A leaf certificate valid from ``days[0]`` to ``days[1]`` days from now."""
        key, csr, cert = (self.directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        _genkey(key, bits)
        subject = f"/CN={common_name}" + (f"/O={organisation}" if organisation else "")
        subject += (f"/OGRN={ogrn}" if ogrn else "") + extra_subject
        openssl(
            "req", "-engine", "gost", "-config", self.directory / "openssl.cnf", "-new", "-key", key,
            "-subj", subject, "-utf8", f"-md_gost12_{bits}", "-out", csr,
        )  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        start, end = (
            (now + dt.timedelta(days=d)).strftime("%Y%m%d%H%M%SZ") for d in days
        )  # fmt: skip
        openssl(
            "ca", "-engine", "gost", "-config", self.directory / "openssl.cnf", "-batch", "-notext",
            "-utf8", "-cert", self.cert, "-keyfile", self.key, "-md", "md_gost12_256",
            "-startdate", start, "-enddate", end,
            "-extensions", "leaf" if digital_signature else "leaf_no_signing",
            "-in", csr, "-out", cert,
        )  # fmt: skip
        return Issued(key, cert)


def _genkey(path: Path, bits: int) -> None:
    openssl(
        "genpkey", "-engine", "gost", "-algorithm", _ALGORITHM[bits],
        "-pkeyopt", f"paramset:{_PARAMSET[bits]}", "-out", path,
    )  # fmt: skip


def streebog(data: bytes, bits: int = 256) -> bytes:
    return openssl("dgst", "-engine", "gost", f"-md_gost12_{bits}", "-binary", data=data)


def sign(key: Path, data: bytes, bits: int = 256) -> bytes:
    """``openssl dgst -sign``: the GOST signature s‖r over ``data`` hashed with Streebog."""
    return openssl("dgst", "-engine", "gost", f"-md_gost12_{bits}", "-sign", key, "-binary", data=data)


def verify(cert: Path, data: bytes, signature: bytes, workdir: Path, bits: int = 256) -> bool:
    """``openssl dgst -verify`` with the certificate's public key."""
    public, signature_file = workdir / "verify-pub.pem", workdir / "verify.sig"
    public.write_bytes(openssl("x509", "-engine", "gost", "-in", cert, "-pubkey", "-noout"))
    signature_file.write_bytes(signature)
    result = subprocess.run(
        ["openssl", "dgst", "-engine", "gost", f"-md_gost12_{bits}", "-verify", str(public),
         "-signature", str(signature_file)],
        input=data, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return result.returncode == 0 and b"Verified OK" in result.stdout


def sign_detached(
    document: bytes,
    container: str,
    target: str,
    signer: Issued,
    *,
    bits: int = 256,
    method: str | None = None,
    digest: str | None = None,
    extra_certs: tuple[Path, ...] = (),
) -> bytes:
    """Place a GOST ds:Signature over the element whose local name is ``target`` (by its Id) into the
    element whose local name is ``container``, every value computed by the openssl CLI."""
    root = etree.fromstring(document)
    element = next(e for e in root.iter() if etree.QName(e).localname == target)
    holder = next(e for e in root.iter() if etree.QName(e).localname == container)
    signature = etree.SubElement(holder, f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, f"{{{DS}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=method or GOST_METHOD[bits])
    reference = etree.SubElement(signed_info, f"{{{DS}}}Reference", URI="#" + element.get("Id"))
    etree.SubElement(
        etree.SubElement(reference, f"{{{DS}}}Transforms"), f"{{{DS}}}Transform", Algorithm=EXC_C14N
    )
    etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=digest or STREEBOG[bits])
    canonical = etree.tostring(element, method="c14n", exclusive=True)
    etree.SubElement(reference, f"{{{DS}}}DigestValue").text = base64.b64encode(
        streebog(canonical, bits)
    ).decode()
    signed_bytes = etree.tostring(signed_info, method="c14n", exclusive=True)
    etree.SubElement(signature, f"{{{DS}}}SignatureValue").text = base64.b64encode(
        sign(signer.key, signed_bytes, bits)
    ).decode()
    x509_data = etree.SubElement(etree.SubElement(signature, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
    for cert in (signer.cert, *extra_certs):
        der = openssl("x509", "-engine", "gost", "-in", cert, "-outform", "DER")
        etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = base64.b64encode(der).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
