"""Keyed pseudonyms: stable under one key, unlinkable across keys, the key never shown."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from segspark.errors import UsageError
from segspark.report import pseudonyms
from segspark.report.pseudonyms import KEY_FILE_VARIABLE, KEY_VARIABLE, PseudonymKey

KEY = "a-test-key-of-enough-length"


def test_a_pseudonym_is_the_keyed_hash_of_the_id_as_text_and_stable_under_one_key():
    key = pseudonyms.load_key({KEY_VARIABLE: KEY})
    expected = "c-" + hmac.new(KEY.encode(), b"12345", hashlib.sha256).hexdigest()[:16]
    assert pseudonyms.pseudonym(key, 12345) == expected
    assert pseudonyms.pseudonyms(key, [12345, 12345, 7]) == [expected, expected, pseudonyms.pseudonym(key, 7)]
    assert "12345" not in expected


def test_another_key_gives_other_pseudonyms_and_no_key_gives_a_fresh_random_one_per_run():
    one = pseudonyms.load_key({KEY_VARIABLE: KEY})
    other = pseudonyms.load_key({KEY_VARIABLE: KEY + "!"})
    assert pseudonyms.pseudonym(one, 1) != pseudonyms.pseudonym(other, 1)
    first_run, second_run = pseudonyms.load_key({}), pseudonyms.load_key({})
    assert first_run.source == "random for this run"
    assert pseudonyms.pseudonym(first_run, 1) != pseudonyms.pseudonym(second_run, 1)


def test_the_key_file_must_live_outside_the_project_and_the_key_must_be_long_enough(tmp_path):
    outside = tmp_path / "segspark.key"
    outside.write_text(KEY + "\n")
    key = pseudonyms.load_key({KEY_FILE_VARIABLE: str(outside)})
    assert key.secret == KEY.encode() and str(outside) in key.source
    with pytest.raises(UsageError, match="inside the project"):
        pseudonyms.load_key({KEY_FILE_VARIABLE: str(pseudonyms.PROJECT_ROOT / "conf" / "segspark.toml")})
    with pytest.raises(UsageError, match="cannot read"):
        pseudonyms.load_key({KEY_FILE_VARIABLE: str(tmp_path / "missing.key")})
    with pytest.raises(UsageError, match="at least 16"):
        pseudonyms.load_key({KEY_VARIABLE: "short"})


def test_printing_a_key_shows_where_it_came_from_not_the_secret():
    key = PseudonymKey(KEY.encode(), KEY_VARIABLE)
    assert KEY not in repr(key) and KEY not in str(key) and KEY_VARIABLE in repr(key)
