"""The console's browser fixtures (Chromium through Playwright, a customer's site)."""

from tests.console.conftest import browser, customer_site, new_page  # noqa: F401
