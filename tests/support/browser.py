"""A real browser for the tests: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver (the paths are given, so Selenium fetches nothing)."""

from __future__ import annotations

import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(REPO, "build", "test-artifacts")


def chromium(log_folder: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", f"--user-data-dir={log_folder}/chromium-profile"):
        options.add_argument(arg)
    service = Service(CHROMEDRIVER, log_output=os.path.join(log_folder, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


def screenshot(browser: webdriver.Chrome, name: str) -> str:
    """Save the page as build/test-artifacts/NAME.png (kept after the run)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    browser.save_screenshot(path)
    return path
