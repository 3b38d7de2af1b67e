"""Templates under AES-GCM with key ids; gate-key / operator-token digests."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from egate.crypto import (
    EncryptedTemplate,
    InvalidKey,
    MalformedTemplate,
    SecretHasher,
    TemplateDecryptionError,
    TemplateKeyring,
    UnknownKeyId,
    decrypt_template,
    encrypt_template,
    new_secret,
)

KEYRING = TemplateKeyring({"k1": bytes(32), "k2": bytes(range(32))}, "k2")
AAD = b"traveller-42"


@given(
    arrays(
        np.float32,
        st.integers(1, 256),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_any_finite_vector_round_trips_exactly(vector: np.ndarray) -> None:
    sealed = encrypt_template(KEYRING, vector, associated_data=AAD)
    opened = decrypt_template(KEYRING, sealed, associated_data=AAD)
    assert opened.dtype == np.float32
    np.testing.assert_array_equal(opened, vector)


def test_sealed_with_the_active_key_and_a_fresh_nonce() -> None:
    vector = np.linspace(-1, 1, 128, dtype=np.float32)
    a = encrypt_template(KEYRING, vector, associated_data=AAD)
    b = encrypt_template(KEYRING, vector, associated_data=AAD)
    assert (a.key_id, len(a.nonce), len(a.ciphertext)) == ("k2", 12, 128 * 4 + 16)
    assert a.nonce != b.nonce
    assert a.ciphertext != b.ciphertext
    assert vector.tobytes() not in a.ciphertext


def test_float64_input_is_stored_as_float32() -> None:
    vector = np.linspace(0, 1, 128)
    sealed = encrypt_template(KEYRING, vector, associated_data=AAD)
    np.testing.assert_array_equal(
        decrypt_template(KEYRING, sealed, associated_data=AAD), vector.astype(np.float32)
    )


def test_old_key_ids_still_decrypt() -> None:
    old = TemplateKeyring.single("k1", bytes(32))
    sealed = encrypt_template(old, np.ones(128, np.float32), associated_data=AAD)
    assert decrypt_template(KEYRING, sealed, associated_data=AAD)[0] == 1.0


def test_wrong_associated_data_or_altered_ciphertext_fail() -> None:
    sealed = encrypt_template(KEYRING, np.ones(128, np.float32), associated_data=AAD)
    with pytest.raises(TemplateDecryptionError, match="under key 'k2' failed authentication"):
        decrypt_template(KEYRING, sealed, associated_data=b"traveller-43")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(TemplateDecryptionError) as err:
        decrypt_template(
            KEYRING, EncryptedTemplate("k2", sealed.nonce, flipped), associated_data=AAD
        )
    assert err.value.code == "template_decrypt"
    with pytest.raises(TemplateDecryptionError):
        decrypt_template(
            KEYRING, EncryptedTemplate("k1", sealed.nonce, sealed.ciphertext), associated_data=AAD
        )


def test_unknown_key_id() -> None:
    sealed = EncryptedTemplate("k9", bytes(12), bytes(32))
    with pytest.raises(
        UnknownKeyId, match=r"no template key with id 'k9' \(keyring holds \['k1', 'k2'\]\)"
    ):
        decrypt_template(KEYRING, sealed, associated_data=AAD)


@pytest.mark.parametrize(
    ("keys", "active", "error", "message"),
    [
        ({"k1": bytes(31)}, "k1", InvalidKey, "key is 31 bytes, expected 16, 24 or 32"),
        ({"": bytes(32)}, "", InvalidKey, "key id must be 1 to 32 characters"),
        ({"k1": bytes(32)}, "k2", UnknownKeyId, "no template key with id 'k2'"),
    ],
)
def test_bad_keyrings(
    keys: dict[str, bytes], active: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        TemplateKeyring(keys, active)


def test_keyring_from_base64() -> None:
    key = TemplateKeyring.generate_key()
    ring = TemplateKeyring.from_base64({"k1": base64.b64encode(key).decode()}, "k1")
    assert ring.keys == {"k1": key}
    with pytest.raises(InvalidKey, match="template key 'k1': key is not valid base64"):
        TemplateKeyring.from_base64({"k1": "not base64!"}, "k1")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (np.ones((2, 64), np.float32), r"shape \(2, 64\): expected a non-empty 1-d vector"),
        (np.ones(0, np.float32), "expected a non-empty 1-d vector"),
        (np.ones(128, np.int32), "expected floats, got int32"),
        (np.array([0.1, np.nan], np.float32), "contains NaN or infinity"),
        (np.array([np.inf], np.float64), "contains NaN or infinity"),
    ],
)
def test_malformed_templates_are_refused(template: np.ndarray, message: str) -> None:
    with pytest.raises(MalformedTemplate, match=message):
        encrypt_template(KEYRING, template, associated_data=AAD)


def test_secret_digests() -> None:
    hasher = SecretHasher(b"pepper")
    secret = new_secret()
    digest = hasher.digest(secret)
    assert len(secret) == 43
    assert len(digest) == 64
    assert hasher.digest(secret) == digest
    assert hasher.matches(secret, digest)
    assert not hasher.matches(secret + "x", digest)
    assert SecretHasher(b"other pepper").digest(secret) != digest
    assert new_secret() != secret
