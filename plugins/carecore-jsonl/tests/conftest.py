pytest_plugins = ["carecore.testing.pytest_plugin"]
