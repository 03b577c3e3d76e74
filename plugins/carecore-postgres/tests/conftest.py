from __future__ import annotations

pytest_plugins = ["carecore.testing.pytest_plugin", "carecore_postgres.testing"]
