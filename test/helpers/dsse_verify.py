"""An independent DSSE check: verifies the first envelope of a .jsonl file with an
Ed25519 public key (PEM), computing the pre-authentication encoding itself, as the DSSE
specification defines it. Prints the payload; exits 1 when no signature verifies."""
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def pae(payload_type: bytes, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def main() -> int:
    envelope_file, key_file = sys.argv[1], sys.argv[2]
    with open(envelope_file, "rb") as f:
        envelope = json.loads(f.readline())
    with open(key_file, "rb") as f:
        key = load_pem_public_key(f.read())
    payload = base64.b64decode(envelope["payload"])
    signed = pae(envelope["payloadType"].encode(), payload)
    for signature in envelope["signatures"]:
        try:
            key.verify(base64.b64decode(signature["sig"]), signed)
        except InvalidSignature:
            continue
        sys.stdout.write(payload.decode())
        return 0
    sys.stderr.write("no signature verifies\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
