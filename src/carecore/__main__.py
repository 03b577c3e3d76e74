"""``python -m carecore``: the same command line as the ``carecore`` console script."""

from __future__ import annotations

from carecore.cli import main

if __name__ == "__main__":
    main()
