"""Documentation is code: these tests fail when a setting, a command or an ADR section goes undocumented.

Each list is read from the code itself (the Settings dataclass, the click command tree, the docs/adr folder),
never written out here, so adding a setting or a command without its documentation fails a test.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
import pytest

from teleconsult.cli import main
from teleconsult.settings import ENV_PREFIX, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
ADR_DIR = DOCS / "adr"
ADR_SECTIONS = ("Context", "Decision", "Consequences")

#: Not a setting: no environment variable or TOML key reads it (load_settings skips it).
NOT_CONFIGURABLE = frozenset({"extra"})


def _setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if f.name not in NOT_CONFIGURABLE]


def _commands(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    """Every command under ``command`` with its full path, groups included ('teleconsult db upgrade')."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found.extend(_commands(sub, f"{path} {name}"))
    return found


COMMANDS = _commands(main, "teleconsult")


def _parameters() -> list[tuple[str, str]]:
    """(command path, how the parameter is written on the command line) for every option and argument."""
    found: list[tuple[str, str]] = []
    for path, command in COMMANDS:
        for param in command.params:
            if isinstance(param, click.Option):
                found.extend((path, opt) for opt in param.opts)
            elif isinstance(param, click.Argument) and param.name:
                found.append((path, param.name.upper()))
    return found


def _adr_files() -> list[Path]:
    return sorted(ADR_DIR.glob("[0-9][0-9][0-9][0-9]-*.md"))


def _headings(markdown: str) -> set[str]:
    return {match.strip() for match in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", markdown, flags=re.MULTILINE)}


@pytest.fixture(scope="module")
def configuration_md() -> str:
    return (DOCS / "configuration.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cli_md() -> str:
    return (DOCS / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", _setting_names())
def test_every_setting_has_its_environment_variable_in_configuration_md(
    name: str, configuration_md: str
) -> None:
    assert f"`{ENV_PREFIX}{name.upper()}`" in configuration_md


@pytest.mark.parametrize("name", _setting_names())
def test_every_setting_has_its_toml_key_in_configuration_md(name: str, configuration_md: str) -> None:
    assert f"`{name}`" in configuration_md


def test_configuration_md_documents_the_config_file_variable(configuration_md: str) -> None:
    assert f"`{ENV_PREFIX}CONFIG`" in configuration_md


def test_configuration_md_names_no_setting_that_does_not_exist(configuration_md: str) -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in _setting_names()} | {f"{ENV_PREFIX}CONFIG"}
    mentioned = set(re.findall(rf"{ENV_PREFIX}[A-Z0-9_]*[A-Z0-9]", configuration_md))
    assert mentioned - known == set()


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_every_command_has_its_full_path_in_cli_md(path: str, cli_md: str) -> None:
    assert f"`{path}`" in cli_md


@pytest.mark.parametrize(("path", "parameter"), _parameters())
def test_every_option_and_argument_appears_in_cli_md(path: str, parameter: str, cli_md: str) -> None:
    assert f"`{parameter}" in cli_md


def test_there_is_at_least_one_adr() -> None:
    assert _adr_files()


@pytest.mark.parametrize("adr", _adr_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("section", ADR_SECTIONS)
def test_every_adr_has_context_decision_and_consequences_headings(adr: Path, section: str) -> None:
    assert section in _headings(adr.read_text(encoding="utf-8"))
