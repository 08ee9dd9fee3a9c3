"""Headless Chromium driven by selenium, the system's browser and driver (Debian's chromium and
chromium-driver; nothing downloaded), for the app served by `workbench serve`.

The page draws the terminal on a canvas (xterm.js), so its text is not in the DOM: a script run before the
page's own keeps the xterm.js Terminal the page creates (it is assigned to a `terminal` property) and
`screen()` reads its buffer through xterm.js's public API, line by line: the text the user sees. Keys go
in as real key events to the focused terminal.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

KEEP_TERMINAL = """
window.__terminals = [];
Object.defineProperty(Object.prototype, 'terminal', {configurable: true, set(value) {
  window.__terminals.push(value);
  Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true, enumerable: true});
}});
"""
READ_SCREEN = """
const t = (window.__terminals || []).find(t => t && t.buffer && t.buffer.active);
if (!t) return null;
const lines = [];
for (let i = 0; i < t.rows; i++) {
  const line = t.buffer.active.getLine(t.buffer.active.viewportY + i);
  lines.push(line ? line.translateToString(true) : '');
}
return lines.join('\\n');
"""
CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"


def chromium_or_skip() -> tuple[str, str]:
    """The system's Chromium and its driver, or a skip saying what is missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    driver = shutil.which(DRIVER) or next((p for p in ("/usr/lib/chromium/chromedriver",) if Path(p).exists()), None)
    if browser is None or driver is None:
        pytest.skip("no Chromium here: apt-get install chromium chromium-driver (scripts/test installs them)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("no selenium here: pip install -e '.[dev]'")
    return browser, driver


class Browser:
    def __init__(self, size: tuple[int, int] = (1400, 900)) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = chromium_or_skip()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size[0]},{size[1]}"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self._keep_terminal()

    def _keep_terminal(self) -> None:
        """KEEP_TERMINAL before the page's own scripts, in every document of the tab in front."""
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_TERMINAL})

    def open(self, url: str) -> None:
        self.driver.get(url)

    def new_tab(self, url: str) -> None:
        """A second tab in front, opening `url` (the first stays open)."""
        self.driver.switch_to.new_window("tab")
        self._keep_terminal()
        self.open(url)

    def status_of_page(self) -> str:
        return self.driver.execute_script("return document.body ? document.body.innerText : ''")

    def screen(self) -> str:
        return self.driver.execute_script(READ_SCREEN) or ""

    def until(self, predicate: Callable[[str], object], what: str, timeout: float = 120) -> str:
        """Wait for state, not time: poll the screen's text until `predicate(text)` holds; `timeout` only
        bounds a failure (generous: a busy machine is slow, never wrong)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}; the screen:\n{text}"
            time.sleep(0.1)

    def until_shown(self, *parts: str, timeout: float = 120) -> str:
        return self.until(lambda text: all(p in text for p in parts), " and ".join(map(repr, parts)), timeout)

    def press(self, *keys: str) -> None:
        """Keys as a user types them into the terminal: 'j', 'enter', 'down', 'ctrl+l', or text."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        named = {"enter": Keys.ENTER, "down": Keys.DOWN, "up": Keys.UP, "escape": Keys.ESCAPE, "tab": Keys.TAB,
                 "right": Keys.RIGHT, "left": Keys.LEFT}
        # xterm.js reads keys from its helper text box (kept off screen): focused, not clicked
        self.driver.execute_script("document.querySelector('.xterm-helper-textarea').focus()")
        for key in keys:
            chain = ActionChains(self.driver)
            if key.startswith("ctrl+"):
                chain.key_down(Keys.CONTROL).send_keys(key[5:]).key_up(Keys.CONTROL)
            else:
                chain.send_keys(named.get(key, key))
            chain.perform()

    def save_screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        self.driver.quit()
