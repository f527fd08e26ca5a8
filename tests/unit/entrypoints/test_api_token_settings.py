"""API tokens come from BOOKING_API_TOKENS and/or a file; bad entries stop start-up without showing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.http.auth import TokenAuthority
from entrypoints.settings import Settings, SettingsError

SERVICE_TOKEN, AUDITOR_TOKEN = "s" * 24, "a" * 24


def test_tokens_and_roles_are_read_from_the_environment_variable() -> None:
    settings = Settings.from_env({"BOOKING_API_TOKENS": f"{SERVICE_TOKEN}:service, {AUDITOR_TOKEN}:auditor"})
    assert dict(settings.api_tokens) == {SERVICE_TOKEN: "service", AUDITOR_TOKEN: "auditor"}


def test_tokens_are_read_from_a_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# the ops console\n{'o' * 20}:operator\n\n")
    settings = Settings.from_env({"BOOKING_API_TOKENS_FILE": str(path)})
    assert dict(settings.api_tokens) == {"o" * 20: "operator"}


@pytest.mark.parametrize("entry", [f"{SERVICE_TOKEN}:admin", f"{SERVICE_TOKEN}", "tiny-tok:service"])
def test_a_bad_entry_stops_start_up_without_showing_the_token(entry: str) -> None:
    with pytest.raises(SettingsError) as refusal:
        Settings.from_env({"BOOKING_API_TOKENS": entry})
    assert SERVICE_TOKEN not in str(refusal.value)
    assert "tiny-tok" not in str(refusal.value)


def test_tokens_never_appear_in_the_settings_repr() -> None:
    settings = Settings.from_env({"BOOKING_API_TOKENS": f"{SERVICE_TOKEN}:service"})
    assert SERVICE_TOKEN not in repr(settings)


def test_an_unreadable_tokens_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="BOOKING_API_TOKENS_FILE"):
        Settings.from_env({"BOOKING_API_TOKENS_FILE": str(tmp_path / "missing")})


def test_the_authority_finds_the_role_of_a_known_token_only() -> None:
    authority = TokenAuthority([(SERVICE_TOKEN, "service"), (AUDITOR_TOKEN, "auditor")])
    assert authority.role_of(AUDITOR_TOKEN) == "auditor"
    assert authority.role_of(SERVICE_TOKEN[:-1]) is None
    assert authority.role_of("") is None


def test_a_bad_http_port_is_named() -> None:
    with pytest.raises(SettingsError, match="BOOKING_HTTP_PORT"):
        Settings.from_env({"BOOKING_HTTP_PORT": "eighty"})


def test_a_token_listed_twice_with_different_roles_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"{SERVICE_TOKEN}:operator\n")
    with pytest.raises(SettingsError, match="repeats an earlier token with another role") as refusal:
        Settings.from_env(
            {"BOOKING_API_TOKENS": f"{SERVICE_TOKEN}:auditor", "BOOKING_API_TOKENS_FILE": str(path)}
        )
    assert SERVICE_TOKEN not in str(refusal.value)


def test_a_token_listed_twice_with_the_same_role_is_one_token() -> None:
    settings = Settings.from_env({"BOOKING_API_TOKENS": f"{SERVICE_TOKEN}:service,{SERVICE_TOKEN}:service"})
    assert settings.api_tokens == ((SERVICE_TOKEN, "service"),)
