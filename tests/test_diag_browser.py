"""The diagnostics page in a real headless Chromium, against gunicorn answering from Knot.

Chromium and ChromeDriver come from Debian (packages ``chromium``, ``chromium-driver``);
selenium drives them with the system binaries only (no browser or driver download). The
tests skip when either is missing, except under ``CI=true`` where they must run.
Screenshots are written to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    webdriver = None

from autoconf.diagnostics.documents import DOCUMENTS
from autoconf.diagnostics.documents import NOT_AVAILABLE
from tests import binaries
from tests.conftest import config
from tests.knot import Knot
from tests.servers import Server
from tests.servers import gunicorn

ARTIFACTS = Path(__file__).parent / "artifacts"
#: machines/python.md "Known to work": without the background-networking flags Chromium
#: keeps trying to reach Google's hosts through the closed network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _missing() -> str:
    for name in ("chromium", "chromedriver"):
        if binaries.find(name) is None:
            return binaries.missing_reason(name)
    if webdriver is None:
        return "selenium is not installed (test extra)"
    return ""


@pytest.fixture(name="browser", scope="module")
def fixture_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile directory."""
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium must not phone home
    options = webdriver.ChromeOptions()
    options.binary_location = binaries.find("chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    # The page must work with JavaScript off: browse with it off.
    options.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    driver = webdriver.Chrome(
        service=Service(executable_path=binaries.find("chromedriver")), options=options
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(name="service")
def fixture_service(running_knot: Knot, tmp_path: Path) -> Iterator[Server]:
    """The real service under gunicorn, answering from the real Knot."""
    with gunicorn(config(nameservers=[running_knot.nameserver], timeout=1.0), tmp_path) as server:
        yield server


def screenshot(driver: Any, name: str, width: int) -> Path:
    """A full-page PNG at ``width`` CSS pixels, saved under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    driver.set_window_size(width, 800)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 120, 12000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def submit(driver: Any, base_url: str, text: str) -> None:
    """Open /, type into the field found by its label, and press the button."""
    driver.get(base_url + "/")
    label = driver.find_element(By.XPATH, "//label[text()='E-mail address or domain']")
    field = driver.find_element(By.ID, label.get_attribute("for"))
    field.clear()
    field.send_keys(text)
    driver.find_element(By.XPATH, "//form//button[@type='submit']").click()
    # The click returns before the result page has replaced the form page (a busy CI
    # machine showed the race). Wait for the result's URL (the form is a GET to
    # /?address=...) and for that document to finish loading, and only then read it. Not
    # selenium's staleness_of on the old page: polling a node of a document being replaced
    # makes Chromium answer "Node with given id does not belong to the document", an error
    # staleness_of does not expect (seen under load).
    WebDriverWait(driver, 30).until(
        lambda d: (
            "address=" in d.current_url
            and d.execute_script("return document.readyState") == "complete"
        )
    )


def cells(driver: Any, table: str) -> list[list[str]]:
    """The visible text of every body cell of the table with id ``table``."""
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_admin_diagnoses_an_address(browser: Any, service: Server) -> None:
    """Typing an address and submitting (JavaScript off) shows the verdict, the records
    with their TTLs, the trust decisions and the Thunderbird document."""
    submit(browser, service.url, "alice@example.test")
    assert "address=alice%40example.test" in browser.current_url
    verdict = browser.find_element(By.CSS_SELECTOR, "p.verdict").text
    assert verdict.startswith("OK: clients are told IMAP mail.example.test:993 (tls)")
    records = {(row[0], row[1]): row for row in cells(browser, "records")}
    assert records[("_imaps._tcp.example.test.", "SRV")][2:4] == ["answer", "300"]
    assert records[("_caldavs._tcp.example.test.", "TXT")][5] == '"path=/dav/cal/"'
    trust = cells(browser, "trust")
    assert ["_pop3s", "10 1 995 pop.example.test.", "served", "inside example.test"] in trust
    document = browser.find_element(By.CSS_SELECTOR, "#doc-thunderbird pre").text
    assert "<hostname>mail.example.test</hostname>" in document
    assert "<socketType>SSL</socketType>" in document
    pox = browser.find_element(By.CSS_SELECTOR, "#doc-pox pre").text
    assert "<Server>mail.example.test</Server>" in pox and "<LoginName>alice@example.test" in pox
    v2 = browser.find_element(By.CSS_SELECTOR, "#doc-v2 pre").text
    assert "https://autodiscover.example.test/autodiscover/autodiscover.xml" in v2
    for fmt in DOCUMENTS:
        article = browser.find_element(By.ID, f"doc-{fmt.key}").text
        assert (NOT_AVAILABLE in article) is (fmt.render is None)
    wide = screenshot(browser, "diag-wide.png", 1400)
    assert wide.stat().st_size > 10_000


def test_page_fits_a_phone(browser: Any, service: Server) -> None:
    """At 390 px the page does not scroll sideways: wide tables scroll in their own box."""
    submit(browser, service.url, "weights.example.test")
    assert "heavy.weights.example.test" in browser.find_element(By.ID, "settings").text
    screenshot(browser, "diag-phone.png", 390)
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0


def test_unserved_domain_in_the_browser(browser: Any, service: Server) -> None:
    """A domain that is not served gets the 'not served here' message and the form back."""
    submit(browser, service.url, "bob@elsewhere.example")
    assert "not served here" in browser.find_element(By.CSS_SELECTOR, "p.verdict").text
    value = browser.find_element(By.ID, "address").get_attribute("value")
    assert value == "bob@elsewhere.example"
