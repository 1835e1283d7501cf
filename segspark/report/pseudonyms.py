"""Customer ids as the report shows them: keyed pseudonyms (HMAC-SHA256), never the raw id.

Whoever holds the key can recompute a customer's pseudonym from the raw id in the Parquet output;
without it the pseudonym says nothing. The key comes from the environment or a file kept outside
the project; with neither, each run draws a random key and its pseudonyms cannot be linked to
other runs. The key itself is never printed or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from segspark.config import PROJECT_ROOT
from segspark.errors import UsageError

KEY_VARIABLE = "SEGSPARK_PSEUDONYM_KEY"
KEY_FILE_VARIABLE = "SEGSPARK_PSEUDONYM_KEY_FILE"
MIN_KEY_BYTES = 16
PREFIX = "c-"


@dataclass(frozen=True)
class PseudonymKey:
    """The secret and where it came from (the summary records only the latter)."""

    secret: bytes
    source: str

    def __repr__(self) -> str:  # keep the secret out of any log or traceback that prints this
        return f"PseudonymKey(source={self.source!r})"


def load_key(environ: Mapping[str, str] = os.environ) -> PseudonymKey:
    """The key from SEGSPARK_PSEUDONYM_KEY, else SEGSPARK_PSEUDONYM_KEY_FILE, else random per run."""
    if environ.get(KEY_VARIABLE):
        return PseudonymKey(_checked(environ[KEY_VARIABLE].encode(), KEY_VARIABLE), KEY_VARIABLE)
    if environ.get(KEY_FILE_VARIABLE):
        path = Path(environ[KEY_FILE_VARIABLE]).expanduser().resolve()
        if path.is_relative_to(PROJECT_ROOT):
            raise UsageError(f"{KEY_FILE_VARIABLE}: {path} is inside the project; keep the key file outside it")
        try:
            secret = path.read_bytes().strip()
        except OSError as error:
            raise UsageError(f"{KEY_FILE_VARIABLE}: cannot read {path}: {error.strerror}") from None
        return PseudonymKey(_checked(secret, KEY_FILE_VARIABLE), f"{KEY_FILE_VARIABLE} ({path})")
    return PseudonymKey(secrets.token_bytes(32), "random for this run")


def _checked(secret: bytes, origin: str) -> bytes:
    if len(secret) < MIN_KEY_BYTES:
        raise UsageError(f"{origin}: the pseudonym key is {len(secret)} bytes; give at least {MIN_KEY_BYTES}")
    return secret


def pseudonym(key: PseudonymKey, customer_id: object) -> str:
    """c- and the first 16 hex digits of HMAC-SHA256(key, the customer id as text)."""
    return PREFIX + hmac.new(key.secret, str(customer_id).encode(), hashlib.sha256).hexdigest()[:16]


def pseudonyms(key: PseudonymKey, customer_ids: Iterable[object]) -> list[str]:
    return [pseudonym(key, customer_id) for customer_id in customer_ids]
