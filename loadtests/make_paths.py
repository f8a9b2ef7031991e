#!/usr/bin/env python3
"""Writes one GET path (base64 OCSP request, SHA-1 CertID) per line for a sample of the
demo's bulk serials, for wrk's get.lua. Usage: make_paths.py DEMO_DIR COUNT OUT"""
import base64
import json
import random
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp


def main() -> None:
    demo, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    manifest = json.load(open(f"{demo}/manifest.json"))
    bulk = manifest["bulk"]
    ca = x509.load_pem_x509_certificate(open(bulk["issuer"], "rb").read())
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(ca.subject.public_bytes())
    spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The key hash is over the subjectPublicKey BIT STRING contents: for P-256 the
    # uncompressed point, the last 65 bytes of the SPKI.
    key_hash = hashes.Hash(hashes.SHA1())
    key_hash.update(spki[-65:])
    nh, kh = name_hash.finalize(), key_hash.finalize()
    serials = [line.strip() for line in open(bulk["serials_file"]) if line.strip()]
    rng = random.Random(42)
    chosen = rng.sample(serials, min(count, len(serials)))
    with open(out, "w") as f:
        for s in chosen:
            req = (
                ocsp.OCSPRequestBuilder()
                .add_certificate_by_hash(nh, kh, int(s, 16), hashes.SHA1())
                .build()
            )
            der = req.public_bytes(serialization.Encoding.DER)
            f.write("/" + base64.b64encode(der).decode() + "\n")


if __name__ == "__main__":
    main()
