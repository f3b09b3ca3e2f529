"""The `teleconsult` command line on a real SQLite data directory."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from records.crypto import generate_key_file, rotate_key_file
from records.crypto.rotation import RotationProgress
from records.rotation.service import rewrap_all
from teleconsult.cli import main
from teleconsult.clock import FixedClock
from tests.integration.records_world import records_world


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in (
        "TELECONSULT_DATABASE_URL",
        "TELECONSULT_MODE",
        "TELECONSULT_SECRET_KEY",
        "TELECONSULT_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_operator_creates_a_care_home_and_an_account_then_deactivates_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert runner.invoke(main, ["db", "upgrade", *data]).exit_code == 0
    created = runner.invoke(
        main,
        [
            "establishment",
            "create",
            "--kind",
            "ehpad",
            "--name",
            "EHPAD CLI",
            "--finess",
            "789555551",
            "--beds",
            "50",
            *data,
        ],
    )
    assert created.exit_code == 0, created.output
    user = runner.invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "ide.cli",
            "--name",
            "Infirmière CLI",
            "--role",
            "ide",
            "--establishment",
            "789555551",
            "--password",
            "une phrase de passe solide",
            *data,
        ],
    )
    assert user.exit_code == 0, user.output
    again = runner.invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "IDE.cli",
            "--name",
            "Doublon",
            "--role",
            "ide",
            "--establishment",
            "789555551",
            "--password",
            "une phrase de passe solide",
            *data,
        ],
    )
    assert again.exit_code != 0 and "identifiant" in again.output.lower()
    gone = runner.invoke(main, ["user", "deactivate", "ide.cli", *data])
    assert gone.exit_code == 0, gone.output


def test_bad_input_on_the_command_line_is_a_message_not_a_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path)]
    runner.invoke(main, ["db", "upgrade", *data])
    result = runner.invoke(
        main, ["establishment", "create", "--kind", "ehpad", "--name", "Sans FINESS", "--beds", "10", *data]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "FINESS" in result.output


def test_production_refuses_to_start_with_demo_secret_and_plain_http(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELECONSULT_MODE", "production")
    result = runner.invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "SECRET_KEY" in result.output
    assert "https://" in result.output


def test_serve_without_a_mode_is_production_and_refuses_the_demo_secret(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "SECRET_KEY" in result.output


def test_serve_refuses_the_test_mode_and_its_weak_hashing(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELECONSULT_MODE", "test")
    result = runner.invoke(main, ["serve"])
    assert result.exit_code != 0
    assert "test" in result.output


def test_operator_resets_a_second_factor(runner: CliRunner, tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    runner.invoke(main, ["db", "upgrade", *data])
    runner.invoke(main, ["establishment", "create", "--kind", "hospital", "--name", "CHU CLI", *data])
    hospital = runner.invoke(main, ["establishment", "create", "--kind", "hospital", "--name", "CH 2", *data])
    created = runner.invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "dr.cli",
            "--name",
            "Dr CLI",
            "--role",
            "expert",
            "--specialty",
            "geriatrie",
            "--establishment",
            hospital.output.strip(),
            "--password",
            "une phrase de passe solide",
            *data,
        ],
    )
    assert created.exit_code == 0, created.output
    result = runner.invoke(main, ["user", "reset-2fa", "dr.cli", *data])
    assert result.exit_code == 0, result.output
    unknown = runner.invoke(main, ["user", "reset-2fa", "personne", *data])
    assert unknown.exit_code != 0 and "Traceback" not in unknown.output


def test_operator_generates_rotates_and_lists_the_keys_without_printing_them(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path)]
    not_migrated = runner.invoke(main, ["keys", "rotate", *data])
    assert not_migrated.exit_code != 0 and "Traceback" not in not_migrated.output
    runner.invoke(main, ["db", "upgrade", *data])
    first = runner.invoke(main, ["keys", "generate", *data])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(main, ["keys", "generate", *data])
    assert again.exit_code != 0 and "Traceback" not in again.output
    rotated = runner.invoke(main, ["keys", "rotate", "--batch-size", "10", *data])
    assert rotated.exit_code == 0, rotated.output
    assert "2 clé(s)" in rotated.output and "Terminé : 0 clé(s) ré-enveloppée(s)" in rotated.output
    status = runner.invoke(main, ["keys", "status", *data])
    assert status.output.count("version") == 2 and "0 clé(s) de données" in status.output
    assert "INACHEVÉE" not in status.output
    rewrap = runner.invoke(main, ["keys", "rewrap", *data])
    assert rewrap.exit_code == 0 and "peuvent être retirées" in rewrap.output
    key_material = json.loads((tmp_path / "keys.json").read_text())
    assert key_material["keks"][0]["key"] not in status.output + rotated.output + first.output


def test_production_refuses_missing_or_demo_keys(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "TELECONSULT_MODE": "production",
        "TELECONSULT_SECRET_KEY": "s" * 40,
        "TELECONSULT_BASE_URL": "https://teleconsult.example.org",
        "TELECONSULT_TRUSTED_PROXIES": "127.0.0.1",
        "TELECONSULT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }.items():
        monkeypatch.setenv(name, value)
    missing = runner.invoke(main, ["serve", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2 and "clés" in missing.output
    generate_key_file(tmp_path / "keys.json", demo=True)
    demo = runner.invoke(main, ["serve", "--data-dir", str(tmp_path)])
    assert demo.exit_code == 2 and "démonstration" in demo.output


def test_audit_verify_reports_an_intact_chain(runner: CliRunner, tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    runner.invoke(main, ["db", "upgrade", *data])
    runner.invoke(main, ["establishment", "create", "--kind", "hospital", "--name", "CH Audit", *data])
    result = runner.invoke(main, ["audit", "verify", *data])
    assert result.exit_code == 0, result.output
    assert "intègre" in result.output


class _Crash(Exception):
    """Stands for the process being killed between two batches."""


def test_an_interrupted_rotation_shows_in_status_blocks_a_new_one_and_resumes_with_rewrap(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert runner.invoke(main, ["db", "upgrade", *data]).exit_code == 0
    url = f"sqlite+aiosqlite:///{tmp_path / 'teleconsult.sqlite3'}"

    async def seed_then_crash() -> None:
        async with records_world(url, tmp_path, FixedClock(datetime(2026, 11, 23, tzinfo=UTC))) as world:
            await world.add_residents(world.keyring(), 6)
            rotate_key_file(world.key_file)

            def crash(job: RotationProgress) -> None:
                raise _Crash

            with pytest.raises(_Crash):
                await rewrap_all(world.new_uow, world.keyring(), world.clock, batch_size=4, on_batch=crash)

    asyncio.run(seed_then_crash())
    status = runner.invoke(main, ["keys", "status", *data])
    assert "INACHEVÉE" in status.output and "4 clé(s) traitée(s)" in status.output
    refused = runner.invoke(main, ["keys", "rotate", *data])
    assert refused.exit_code != 0 and "rotation.unfinished" in refused.output
    assert json.loads((tmp_path / "keys.json").read_text())["keks"][-1]["version"] == 2  # no third KEK
    resumed = runner.invoke(main, ["keys", "rewrap", "--batch-size", "4", *data])
    assert resumed.exit_code == 0, resumed.output
    assert "Terminé : 6 clé(s) ré-enveloppée(s), 0 déjà à jour" in resumed.output
    status = runner.invoke(main, ["keys", "status", *data])
    assert "INACHEVÉE" not in status.output and "6 clé(s) de données" in status.output


def test_retention_dry_run_changes_nothing_then_the_run_shreds_and_the_audit_chain_holds(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert runner.invoke(main, ["db", "upgrade", *data]).exit_code == 0
    url = f"sqlite+aiosqlite:///{tmp_path / 'teleconsult.sqlite3'}"
    ids: list[str] = []

    async def seed() -> None:
        async with records_world(url, tmp_path, FixedClock(datetime(1990, 3, 1, tzinfo=UTC))) as world:
            ids.extend(str(r.id) for r in await world.add_residents(world.keyring(), 2))

    asyncio.run(seed())
    preview = runner.invoke(main, ["retention", "run", "--dry-run", *data])
    assert preview.exit_code == 0, preview.output
    assert "Simulation" in preview.output and "2 dossier(s) à supprimer" in preview.output
    assert all(i in preview.output for i in ids)
    again = runner.invoke(main, ["retention", "run", "--dry-run", *data])
    assert "2 dossier(s) à supprimer" in again.output
    shredded = runner.invoke(main, ["retention", "run", *data])
    assert shredded.exit_code == 0, shredded.output
    assert "2 dossier(s) supprimé(s)" in shredded.output
    assert "0 dossier(s) supprimé(s)" in runner.invoke(main, ["retention", "run", *data]).output
    verified = runner.invoke(main, ["audit", "verify", *data])
    assert verified.exit_code == 0 and "intègre" in verified.output
