"""Access control on PostgreSQL: the access-policy contract (with the role x action matrix) on a real server."""

from __future__ import annotations

import pytest

from carecore.access import DefaultPolicy
from carecore.testing.contracts import AccessPolicyContract


class TestDefaultPolicyOnPostgres(AccessPolicyContract):
    @pytest.fixture
    def policy(self):
        return DefaultPolicy()

    @pytest.fixture
    def store_url(self, postgres_url):
        return postgres_url
