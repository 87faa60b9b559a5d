"""``python3 -m vpsmcp``: the same command line as the zipapp."""

from __future__ import annotations

import sys

from vpsmcp.cli import main

if __name__ == "__main__":
    sys.exit(main())
