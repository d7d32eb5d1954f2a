"""The search tests' browser fixtures are the console tests' (real Chromium)."""

from tests.console.conftest import browser, new_page  # noqa: F401
