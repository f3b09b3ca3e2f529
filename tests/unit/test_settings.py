"""Settings: defaults safe for the demo, environment and TOML precedence, production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from teleconsult.settings import DEMO_SECRET_KEY, Settings, SettingsError, load_settings, production_problems

GOOD = {
    "TELECONSULT_MODE": "production",
    "TELECONSULT_SECRET_KEY": "x" * 48,
    "TELECONSULT_BASE_URL": "https://teleconsult.example.org",
    "TELECONSULT_DATABASE_URL": "postgresql://teleconsult@db/teleconsult",
    "TELECONSULT_TRUSTED_PROXIES": "127.0.0.1",
}


def test_defaults_run_the_demo_on_sqlite_under_the_data_dir() -> None:
    settings = load_settings({})
    assert settings.mode == "demo"
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert settings.sqlalchemy_url.endswith("teleconsult-data/teleconsult.sqlite3")
    assert settings.language == "fr"
    assert (settings.session_idle_minutes, settings.session_absolute_hours) == (30, 12)


def test_environment_overrides_toml_which_overrides_defaults(tmp_path: Path) -> None:
    config = tmp_path / "teleconsult.toml"
    config.write_text('port = 9000\nlanguage = "en"\ntotp_roles = ["admin"]\n', encoding="utf-8")
    settings = load_settings({"TELECONSULT_PORT": "9100"}, config)
    assert settings.port == 9100
    assert settings.language == "en"
    assert settings.totp_roles == ("admin",)


def test_cli_flags_override_everything() -> None:
    assert load_settings({"TELECONSULT_PORT": "9100"}, port=9200).port == 9200


def test_postgres_urls_use_asyncpg() -> None:
    settings = load_settings({"TELECONSULT_DATABASE_URL": "postgresql://u@h:5432/d"})
    assert settings.sqlalchemy_url == "postgresql+asyncpg://u@h:5432/d"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELECONSULT_PORT": "eighty"}, "TELECONSULT_PORT"),
        ({"TELECONSULT_MODE": "prod"}, "TELECONSULT_MODE"),
        ({"TELECONSULT_LANGUAGE": "de"}, "TELECONSULT_LANGUAGE"),
        ({"TELECONSULT_SESSION_IDLE_MINUTES": "0"}, "session"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("prot = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="prot"):
        load_settings({}, config)


def test_good_production_settings_have_no_problem() -> None:
    settings = load_settings(GOOD)
    assert production_problems(settings) == []
    assert settings.secure_cookies
    assert settings.json_logs
    assert settings.totp_required_roles >= {"expert", "admin"}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"TELECONSULT_SECRET_KEY": DEMO_SECRET_KEY}, "SECRET_KEY"),
        ({"TELECONSULT_SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"TELECONSULT_BASE_URL": "http://teleconsult.example.org"}, "https://"),
        ({"TELECONSULT_DATABASE_URL": ""}, "PostgreSQL"),
        ({"TELECONSULT_TRUSTED_PROXIES": ""}, "TRUSTED_PROXIES"),
    ],
)
def test_production_refuses_demo_secrets_plain_http_and_sqlite(change: dict[str, str], fragment: str) -> None:
    problems = production_problems(load_settings({**GOOD, **change}))
    assert any(fragment in p for p in problems), problems


def test_demo_mode_has_no_second_factor_unless_asked() -> None:
    assert Settings().totp_required_roles == frozenset()
    assert "expert" in Settings(totp_in_demo=True).totp_required_roles


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings({"TELECONSULT_TRUSTED_PROXIES": "127.0.0.1, 172.16.0.0/12"}).trusted_proxies == (
        "127.0.0.1",
        "172.16.0.0/12",
    )
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings({"TELECONSULT_TRUSTED_PROXIES": "proxy.local"})


@pytest.mark.parametrize("roles", ["Expert, admins", "gériatre"])
def test_unknown_second_factor_roles_are_refused_rather_than_silently_ignored(roles: str) -> None:
    with pytest.raises(SettingsError, match="TOTP_ROLES"):
        load_settings({"TELECONSULT_TOTP_ROLES": roles})


def test_the_role_names_settings_know_are_the_roles_of_the_model() -> None:
    from teleconsult.identity.model import Role
    from teleconsult.settings import ROLE_NAMES

    assert set(ROLE_NAMES) == {role.value for role in Role}


def test_a_caller_can_make_production_the_mode_when_none_is_given() -> None:
    assert load_settings({}, default_mode="production").mode == "production"
    assert load_settings({"TELECONSULT_MODE": "demo"}, default_mode="production").mode == "demo"


def test_retention_periods_come_from_the_environment_and_must_be_positive() -> None:
    settings = load_settings({"TELECONSULT_RETENTION_TECHNICAL_MONTHS": "6"})
    assert (settings.retention_medical_records_years, settings.retention_technical_months) == (20, 6)
    assert settings.retention_recordings_days == 30
    with pytest.raises(SettingsError, match="TELECONSULT_RETENTION_RECORDINGS_DAYS"):
        load_settings({"TELECONSULT_RETENTION_RECORDINGS_DAYS": "0"})
