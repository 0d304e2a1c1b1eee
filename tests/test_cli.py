"""The command line: it finds the server's state, never creates a database by accident, and fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from moderator.cli import COMMAND_MODULES, _LazyGroup, main
from moderator.config import SETTINGS

NEEDS_DATABASE = [
    ["keys", "create", "--role", "admin", "--name", "site"],
    ["keys", "list"],
    ["keys", "revoke", "abcd1234"],
    ["users", "list"],
    ["users", "disable", "zoe"],
    ["export-labels", "--out", "-"],
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MODERATOR_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=lambda a: " ".join(a[:2]))
def test_a_command_without_a_database_says_so_and_creates_none(home: Path, tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert (f"no database at {home / 'moderator.db'}; run `moderator init` or set MODERATOR_HOME"
            in result.output)
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing in the working directory either


def test_a_file_that_is_not_a_moderator_database_is_left_alone(home: Path) -> None:
    home.mkdir()
    (home / "moderator.db").write_bytes(b"")
    result = CliRunner().invoke(main, ["keys", "list"])
    assert result.exit_code == 1 and "no moderator database at sqlite:///" in result.output
    assert (home / "moderator.db").read_bytes() == b""


def test_an_explicit_database_url_that_does_not_exist_is_not_created(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "nothing.db"
    result = CliRunner().invoke(main, ["export-labels", "--out", "-", "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and f"no database at {missing}; run `moderator init`" in result.output
    assert not missing.parent.exists()


def test_init_then_keys_create_from_another_directory(home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    init = runner.invoke(main, ["init"])
    assert init.exit_code == 0 and "created/migrated" in init.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    created = runner.invoke(main, ["keys", "create", "--role", "admin", "--name", "site"])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0 and "site" in listed.output
    assert list(elsewhere.iterdir()) == []


def test_the_default_home_does_not_depend_on_the_working_directory() -> None:
    home = next(s for s in SETTINGS if s.name == "home")
    assert Path(home.default).is_absolute()


def test_a_command_module_that_cannot_be_imported_fails_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import moderator.cli as cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", (*COMMAND_MODULES, "moderator.cli.no_such_module"))
    group = _LazyGroup(name="moderator")
    for _ in range(2):  # and again on the next use: a failed load is not remembered as done
        result = CliRunner().invoke(group, ["--help"])
        assert result.exit_code == 1
        assert isinstance(result.exception, ModuleNotFoundError)
        assert result.exception.name == "moderator.cli.no_such_module"
