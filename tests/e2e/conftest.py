"""Fixtures for the end-to-end tier: a real ``chemagent serve`` driven by headless Chromium.

Chromium and chromedriver are Debian's (``chromium``, ``chromium-driver``), installed by
``scripts/install-system-deps.sh``; selenium is pointed at ``/usr/bin/chromedriver`` so
selenium-manager never downloads a browser or a driver. A missing one fails the tests.

One server and one browser serve the whole module (a server is ~3 s to ready, a browser
~1 s); each test starts from a freshly loaded page with an empty ``sessionStorage``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.integration.conftest import (
    ServerProcess,
    start_server,
)

CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = (
    "run `scripts/install-system-deps.sh` as root (apt-get install chromium chromium-driver)"
)
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in a container: the setuid sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # the page is on 127.0.0.1; nothing else is reached
    "--window-size=1280,1024",
)


def chromium_binary() -> str:
    """Debian's Chromium launcher; fails the test (never skips) when it is missing."""
    found = shutil.which("chromium")
    if found is None or not CHROMEDRIVER.is_file():
        missing = [
            name
            for name, present in (("chromium", found), ("chromedriver", CHROMEDRIVER.is_file()))
            if not present
        ]
        pytest.fail(f"{' and '.join(missing)} not installed: {INSTALL_HINT}", pytrace=False)
    return found


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``chemagent serve`` on a free port for the module, stopped at teardown."""
    server = start_server(tmp_path_factory.mktemp("e2e-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, its console log kept for the tests."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()
