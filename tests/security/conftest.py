"""The browser fixtures of tests/console, for the console's reaction to a revoked session."""

from tests.console.conftest import browser, new_page

__all__ = ["browser", "new_page"]
