"""``python -m moderator`` is the ``moderator`` command."""

from moderator.cli import main

if __name__ == "__main__":
    main()
