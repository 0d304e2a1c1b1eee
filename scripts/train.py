#!/usr/bin/env python
"""Train the moderation model on the labelled corpora and write it to models/ (same as `moderator train`)."""

from moderator.cli.model import train_command

if __name__ == "__main__":
    train_command(prog_name="scripts/train.py")
