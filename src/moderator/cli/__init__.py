"""The ``moderator`` command: one click group; each area adds its commands from its own module.

Command modules are imported lazily by name so that ``moderator --help`` stays fast and a broken
optional area cannot take the whole CLI down silently (the import error is raised when it is used).
"""

from __future__ import annotations

import importlib

import click

from moderator import __version__

# module -> attribute holding a list of click commands
COMMAND_MODULES: tuple[str, ...] = (
    "moderator.cli.model",
    "moderator.cli.service",
    "moderator.cli.users",
    "moderator.cli.feedback",
)


class _LazyGroup(click.Group):
    def _load(self) -> None:
        if getattr(self, "_loaded", False):
            return
        self._loaded = True
        for mod_name in COMMAND_MODULES:
            try:
                module = importlib.import_module(mod_name)
            except ModuleNotFoundError as exc:  # an area not written yet
                if exc.name == mod_name:
                    continue
                raise
            for cmd in getattr(module, "COMMANDS", ()):
                self.add_command(cmd)

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
