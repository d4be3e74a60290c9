"""The RSA key that signs chat tickets: loading it from PEM, and its public JWK.

No XBlock or Django imports. Error messages describe the problem and never
contain the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: Smallest RSA modulus accepted for signing tickets (RS256 with less is not safe).
MIN_RSA_BITS = 2048


class UnusableKeyError(ValueError):
    """The PEM text is not a usable RSA private key; ``str()`` says why, without the key."""


def load_rsa_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM RSA private key (PKCS#1 or PKCS#8) of at least 2048 bits.

    Parsing checks the key's consistency, which costs a few milliseconds: the result is
    cached per PEM text, so a page view or a ticket does not pay it each time.
    """
    if isinstance(pem, str):
        try:
            pem = pem.encode("ascii")
        except UnicodeEncodeError:
            raise UnusableKeyError("is not a PEM private key (it contains non-ASCII characters)") from None
    return _load(pem.strip())


@lru_cache(maxsize=8)
def _load(pem: bytes) -> rsa.RSAPrivateKey:
    if b"-----BEGIN" not in pem:
        raise UnusableKeyError("is not a PEM private key (no -----BEGIN line)")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        # cryptography raises TypeError when the key needs a password.
        raise UnusableKeyError("is an encrypted private key; give the key without a password") from None
    except (ValueError, UnsupportedAlgorithm):
        raise UnusableKeyError("is not a PEM private key that can be read (PKCS#1 or PKCS#8 RSA expected)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnusableKeyError(f"is not an RSA key ({type(key).__name__.removeprefix('_')}); an RSA key is required")
    if key.key_size < MIN_RSA_BITS:
        raise UnusableKeyError(f"is a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits are required")
    return key


def _b64url_uint(value: int) -> str:
    """base64url of a positive integer, big-endian, no leading zero bytes, no padding (RFC 7518 §6.3.1)."""
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> dict[str, str]:
    """The required members of the public key's JWK: ``kty``, ``n``, ``e``."""
    numbers = key.public_key().public_numbers() if isinstance(key, rsa.RSAPrivateKey) else key.public_numbers()
    return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


def jwk_thumbprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint of the public key: base64url(SHA-256) of its canonical JWK."""
    jwk = public_jwk(key)
    # RFC 7638 §3: the required members only, in lexicographic order, no whitespace.
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
