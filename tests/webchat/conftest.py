"""The browser fixtures of tests/console (Debian's Chromium through Playwright, a customer's
site on its own origin embedding the widget), for the widget's own browser tests."""

from tests.console.conftest import artifacts, browser, customer_site, new_page

__all__ = ["artifacts", "browser", "customer_site", "new_page"]
