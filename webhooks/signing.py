"""Standard Webhooks signatures: ``v1,`` + base64(HMAC-SHA256(secret, "id.timestamp.body")).

Secrets are ``whsec_`` + base64 of 24 random bytes, as receivers' libraries expect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def fingerprint(secret: str) -> str:
    """Names a secret in events and reads without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers; one signature per secret (the new and the previous one while a
    rotation settles), space-separated, so a receiver holding either verifies."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, message_id, timestamp, body) for secret in secrets),
    }
