from __future__ import annotations

import sys
from pathlib import Path

pytest_plugins = ["carecore.testing.pytest_plugin"]

# The tests share _records.py and _x12.py; pytest runs with --import-mode=importlib,
# which puts no test folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
