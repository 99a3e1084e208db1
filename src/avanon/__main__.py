"""``python -m avanon`` and the ``avanon`` console script."""

import sys


def run() -> int:
    """The command's entry point: :func:`avanon.cli.main`, with an interrupt that arrives while
    its modules load ending in one line too (the exit code of Ctrl-C, 130)."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("avanon: interrupted; no output written\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
