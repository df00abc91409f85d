"""The ``hftestgen`` console script.

``hftestgen warm pytest ARGS`` takes a lean path (standard library only, ~50 ms to start) so that
a run through the warm server is not slowed down by importing the CLI's own dependencies;
everything else goes to the Typer app in ``hftestgen.cli``.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:3] == ["warm", "pytest"]:
        from .run.warm import client_main

        sys.exit(client_main(sys.argv[3:]))
    from .cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
