"""The ``moderator`` command: one click group; each area adds its commands from its own module.

Command modules are imported when the group is first used, not when ``moderator.cli`` is imported. A module
that fails to import fails the command line with its error: no command goes missing silently. What the
commands share (the service database, the audit actor) is in :mod:`moderator.cli.context`.
"""

from __future__ import annotations

import importlib

import click

from moderator import __version__

# each module's COMMANDS lists its click commands
COMMAND_MODULES: tuple[str, ...] = (
    "moderator.cli.model",
    "moderator.cli.service",
    "moderator.cli.users",
    "moderator.cli.feedback",
    "moderator.cli.authors",
    "moderator.cli.erase",
    "moderator.cli.webhooks",
)


class _LazyGroup(click.Group):
    def _load(self) -> None:
        if getattr(self, "_loaded", False):
            return
        for mod_name in COMMAND_MODULES:
            for cmd in importlib.import_module(mod_name).COMMANDS:
                self.add_command(cmd)
        self._loaded = True  # only once all loaded: after a failed import, the next use fails the same way

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="moderator")
def main() -> None:
    """Self-hosted comment moderation: score comments, run the service, work the review queue."""
