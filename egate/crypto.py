"""Secrets at rest: face templates under AES-256-GCM, gate keys and operator tokens
under a keyed hash.

Templates. Each template is encrypted with the keyring's *active* key and a fresh
96-bit random nonce; the key id is stored beside the ciphertext so that a keyring
holding old and new keys decrypts both while `Store.reencrypt_templates` rotates
rows to the new key. The caller's `associated_data` (the store passes the
traveller id) is authenticated, so a ciphertext copied onto another traveller's
row fails to decrypt instead of silently matching the wrong person.

Gate keys and operator tokens. They are server-generated 256-bit random secrets,
so a slow password hash (scrypt, PBKDF2) buys nothing against brute force and
would cost tens of milliseconds on every gate request. We store
HMAC-SHA256(pepper, secret): deterministic, so the digest itself is the indexed
lookup key (one index probe per request, no key-id prefix needed, and arbitrary
bootstrap tokens work too), and keyed with a server pepper kept outside the
database, so a leaked database alone cannot even confirm a guessed token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from egate import EgateError

NONCE_BYTES = 12  # 96-bit nonce: the size GCM is specified for (NIST SP 800-38D 8.2)
_KEY_SIZES = (16, 24, 32)
_TEMPLATE_DTYPE = np.dtype("<f4")  # templates are stored as little-endian float32


class CryptoError(EgateError):
    """Root of the errors raised by `egate.crypto`."""

    code = "crypto"


class InvalidKey(CryptoError):
    """A template key is not a valid AES key (16, 24 or 32 bytes), or its id is unusable."""

    code = "invalid_key"

    def __init__(self, key_id: str, reason: str) -> None:
        super().__init__(f"template key {key_id!r}: {reason}")
        self.key_id = key_id
        self.reason = reason


class UnknownKeyId(CryptoError):
    """A ciphertext names a key id that the keyring does not hold."""

    code = "unknown_key_id"

    def __init__(self, key_id: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no template key with id {key_id!r} (keyring holds {list(known)})")
        self.key_id = key_id
        self.known = known


class TemplateDecryptionError(CryptoError):
    """A template ciphertext failed authentication: altered, or bound to another subject."""

    code = "template_decrypt"

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"template ciphertext under key {key_id!r} failed authentication "
            "(altered, truncated, or stored under another traveller)"
        )
        self.key_id = key_id


class MalformedTemplate(CryptoError):
    """A template to encrypt is not a finite 1-d float vector."""

    code = "malformed_template"

    def __init__(self, shape: tuple[int, ...], reason: str) -> None:
        super().__init__(f"template of shape {shape}: {reason}")
        self.shape = shape
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EncryptedTemplate:
    """One template at rest: AES-GCM `ciphertext` (with its 16-byte tag appended),
    the 12-byte `nonce` and the id of the key that sealed it."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class TemplateKeyring:
    """The template keys known to this deployment, by id; `active` seals new templates.

    Keep retired keys in the ring until `Store.reencrypt_templates` has moved every
    row to the active key.
    """

    keys: Mapping[str, bytes]
    active: str
    _ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not key_id or len(key_id) > 32:
                raise InvalidKey(key_id, "key id must be 1 to 32 characters")
            if len(key) not in _KEY_SIZES:
                raise InvalidKey(key_id, f"key is {len(key)} bytes, expected 16, 24 or 32")
        if self.active not in self.keys:
            raise UnknownKeyId(self.active, tuple(self.keys))
        ciphers = {key_id: AESGCM(key) for key_id, key in self.keys.items()}
        object.__setattr__(self, "_ciphers", ciphers)

    @classmethod
    def single(cls, key_id: str, key: bytes) -> TemplateKeyring:
        """A keyring of one key, active."""
        return cls({key_id: key}, key_id)

    @classmethod
    def from_base64(cls, keys: Mapping[str, str], active: str) -> TemplateKeyring:
        """Build from base64-encoded keys, as configuration carries them."""
        decoded: dict[str, bytes] = {}
        for key_id, text in keys.items():
            try:
                decoded[key_id] = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidKey(key_id, "key is not valid base64") from exc
        return cls(decoded, active)

    @staticmethod
    def generate_key() -> bytes:
        """A fresh random AES-256 key (32 bytes)."""
        return AESGCM.generate_key(bit_length=256)

    def cipher(self, key_id: str) -> AESGCM:
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise UnknownKeyId(key_id, tuple(self.keys)) from None


def encrypt_template(
    keyring: TemplateKeyring, template: npt.ArrayLike, *, associated_data: bytes
) -> EncryptedTemplate:
    """Seal a template vector ((D,) floats, stored as float32) under the active key.

    `associated_data` is authenticated but not stored; pass the same bytes to decrypt.
    """
    vector = np.asarray(template)
    if vector.ndim != 1 or vector.size == 0:
        raise MalformedTemplate(vector.shape, "expected a non-empty 1-d vector")
    if not np.issubdtype(vector.dtype, np.floating):
        raise MalformedTemplate(vector.shape, f"expected floats, got {vector.dtype}")
    if not np.all(np.isfinite(vector)):
        raise MalformedTemplate(vector.shape, "contains NaN or infinity")
    plaintext = vector.astype(_TEMPLATE_DTYPE).tobytes()
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = keyring.cipher(keyring.active).encrypt(nonce, plaintext, associated_data)
    return EncryptedTemplate(keyring.active, nonce, sealed)


def decrypt_template(
    keyring: TemplateKeyring, encrypted: EncryptedTemplate, *, associated_data: bytes
) -> npt.NDArray[np.float32]:
    """Open a sealed template: (D,) float32 (D = 128 for the dlib embedder)."""
    cipher = keyring.cipher(encrypted.key_id)
    try:
        plaintext = cipher.decrypt(encrypted.nonce, encrypted.ciphertext, associated_data)
    except InvalidTag:
        raise TemplateDecryptionError(encrypted.key_id) from None
    return np.frombuffer(plaintext, dtype=_TEMPLATE_DTYPE).astype(np.float32)


# -- gate keys and operator tokens -----------------------------------------------------


@dataclass(frozen=True)
class SecretHasher:
    """HMAC-SHA256 of a secret under the server pepper, as 64 hex characters."""

    pepper: bytes = b""

    def digest(self, secret: str) -> str:
        return hmac.new(self.pepper, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, digest: str) -> bool:
        """Constant-time comparison of `secret`'s digest with a stored one."""
        return hmac.compare_digest(self.digest(secret), digest)


def new_secret() -> str:
    """A fresh 256-bit random secret, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)
