#!/usr/bin/env python
"""Rewrite the configuration table in README.md from the settings declared in src/moderator/config.py."""

import re

from moderator.config import PROJECT_ROOT, settings_markdown

START, END = "<!-- settings:start -->", "<!-- settings:end -->"

if __name__ == "__main__":
    path = PROJECT_ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    block = f"{START}\n{settings_markdown()}\n{END}"
    new, n = re.subn(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    if n != 1:
        raise SystemExit(f"README.md needs exactly one {START} ... {END} block")
    path.write_text(new, encoding="utf-8")
