"""The Playwright browser of the end-to-end tests, for the two-instance test here."""

from tests.e2e.conftest import browser  # noqa: F401
