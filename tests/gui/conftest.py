"""Browser fixtures for the GUI tests."""

from tests.gui.browser import _browser, chromium  # noqa: F401 - the fixtures, shared by the GUI tests
