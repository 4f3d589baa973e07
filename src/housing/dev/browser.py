"""Headless Debian Chromium through Playwright's library, for the dashboard's browser tests
and README screenshots. The system browser only (no downloaded one), started with the flags
that keep it off the network."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic_settings import SettingsConfigDict

from housing.environment import EnvSettings

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
)


class BrowserSettings(EnvSettings):
    """HOUSING_CHROMIUM: a Chromium to drive instead of the system's."""

    model_config = SettingsConfigDict(env_prefix="HOUSING_")
    chromium: str = ""


def chromium_path() -> str | None:
    """The system Chromium (HOUSING_CHROMIUM, or Debian's /usr/bin/chromium), or None."""
    for candidate in (BrowserSettings.from_env().chromium, "/usr/bin/chromium",
                      shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def chromium(executable: str | None = None, *, javascript: bool = True) -> Iterator:
    """A Playwright browser context on the system Chromium with a new, empty profile."""
    from playwright.sync_api import sync_playwright

    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium found: install Debian's chromium package or set "
                           "HOUSING_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="housing-chromium-") as profile, \
            sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS),
            viewport={"width": 1200, "height": 900}, service_workers="block",
            java_script_enabled=javascript)
        try:
            yield context
        finally:
            context.close()
