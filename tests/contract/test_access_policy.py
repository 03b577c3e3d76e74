"""carecore's default access policy keeps the access-policy contract, on every built-in store."""

from __future__ import annotations

import pytest

from carecore.access import DefaultPolicy
from carecore.testing.contracts import AccessPolicyContract


class TestDefaultPolicy(AccessPolicyContract):
    @pytest.fixture
    def policy(self):
        return DefaultPolicy()


class TestDefaultPolicyOnSqlite(TestDefaultPolicy):
    @pytest.fixture
    def store_url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'access.db'}"
