"""The one Settings object: parsed from an environment mapping, frozen, overridable by name."""

from __future__ import annotations

import pytest

from moderator.config import SETTINGS, Settings


def test_defaults_and_parsing_from_a_mapping() -> None:
    s = Settings.from_env({"MODERATOR_CLAIM_TTL": "42", "MODERATOR_SECURE_COOKIES": "yes", "MODERATOR_RATE_LIMIT": ""})
    assert s.claim_ttl == 42
    assert s.secure_cookies is True
    assert s.rate_limit == next(x.default for x in SETTINGS if x.name == "rate_limit")  # empty means the default


def test_frozen_and_replace() -> None:
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.claim_ttl = 1  # type: ignore[misc]
    t = s.replace(claim_ttl=7)
    assert (s.claim_ttl, t.claim_ttl) == (600, 7)
    assert t != s and t == s.replace(claim_ttl=7)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(AttributeError):
        _ = Settings.from_env({}).no_such_setting
    with pytest.raises(KeyError):
        Settings.from_env({}).replace(no_such_setting=1)


def test_secret_key_is_not_shown() -> None:
    assert "hunter2" not in repr(Settings.from_env({"MODERATOR_SECRET_KEY": "hunter2"}))


def test_given_settings_are_told_from_defaults() -> None:
    s = Settings.from_env({"MODERATOR_POLICY_MODE": "premoderation", "MODERATOR_CLAIM_TTL": ""})
    assert s.is_given("policy_mode") and not s.is_given("claim_ttl")
    assert s.replace(claim_ttl=600).is_given("claim_ttl")
    assert s.replace(claim_ttl=600).is_given("policy_mode")
