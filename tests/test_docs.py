"""Docs tied to code: every setting and every CLI command is in the README."""

from __future__ import annotations

import click
import pytest

from moderator.cli import main
from moderator.config import PROJECT_ROOT, SETTINGS

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_documented(setting) -> None:
    assert f"`{setting.env}`" in README, f"{setting.env} is missing from README.md's configuration table"


def _commands(group: click.Group, prefix: str = "moderator") -> list[str]:
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        out.append(f"{prefix} {name}")
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix} {name}")
    return out


@pytest.mark.parametrize("command", _commands(main))
def test_every_cli_command_is_documented(command: str) -> None:
    assert command in README, f"`{command}` is missing from README.md"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in README and "python -m pytest" in ci
