#!/usr/bin/env python3
"""An independent DKIM implementation (dkimpy) for interoperability tests.

usage: dkim_peer.py verify MESSAGE KEYS_JSON
           exits 0 when every DKIM-Signature of MESSAGE verifies with dkimpy; KEYS_JSON maps
           "selector._domainkey.domain" to its TXT record
       dkim_peer.py sign MESSAGE KEY SELECTOR DOMAIN ALGORITHM CANON [HEADERS]
           writes MESSAGE signed by dkimpy (ALGORITHM rsa-sha256 or ed25519-sha256; CANON as
           "relaxed/simple"; for ed25519 KEY is a PEM PKCS#8 key); HEADERS comma-separated
"""
import base64
import json
import subprocess
import sys

import dkim


def keys_from(path):
    records = json.load(open(path))
    return lambda name, timeout=5: records.get(name.decode().rstrip("."), "").encode() or None


def ed25519_seed(pem_path):
    der = subprocess.run(["openssl", "pkey", "-in", pem_path, "-outform", "DER"], capture_output=True,
                         check=True).stdout
    return base64.b64encode(der[-32:])


def main():
    command = sys.argv[1]
    message = open(sys.argv[2], "rb").read()
    if command == "verify":
        lookup = keys_from(sys.argv[3])
        verifier = dkim.DKIM(message)
        count = message.count(b"DKIM-Signature:")
        ok = all(verifier.verify(idx=i, dnsfunc=lookup) for i in range(count)) and count > 0
        sys.exit(0 if ok else 1)
    key_path, selector, domain, algorithm, canon = sys.argv[3:8]
    headers = [h.encode() for h in sys.argv[8].split(",")] if len(sys.argv) > 8 else None
    if algorithm == "ed25519-sha256":
        key = ed25519_seed(key_path)
    else:
        key = open(key_path, "rb").read()
    header_canon, body_canon = canon.split("/")
    signature = dkim.sign(message, selector.encode(), domain.encode(), key,
                          canonicalize=(header_canon.encode(), body_canon.encode()),
                          signature_algorithm=algorithm.encode(), include_headers=headers)
    sys.stdout.buffer.write(signature + message)


main()
