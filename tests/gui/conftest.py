"""Browser fixtures for the GUI tests."""

from tests.gui.browser import chromium  # noqa: F401 - the fixture, shared by the GUI tests
