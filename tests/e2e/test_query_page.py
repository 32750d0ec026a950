"""The query page at ``GET /`` in headless Chromium against a real ``chemagent serve``.

A person's path: type a question, watch the progress bar and the steps, read the answer,
the result table and the structure drawing; ask a follow-up; mistype a name and get "did
you mean". The browser's console must stay free of errors (a CSP violation or a failed
request is one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from chemagent.api.routes.page import CONTENT_SECURITY_POLICY, install_page
from tests.integration.conftest import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WAIT_SECONDS = 15.0  # a query answers in ~50 ms here; the margin is for a loaded CI machine
ASPIRIN_MW = "What is the molecular weight of aspirin?"

# Records every value the progress bar takes (attribute changes, with the old value), so a
# test can tell a live bar from one that jumps to the end.
WATCH_PROGRESS = """
const bar = document.getElementById("progress");
window.progressSeen = [];
new MutationObserver((records) => {
  for (const r of records) window.progressSeen.push(Number(r.oldValue));
}).observe(bar, {attributes: true, attributeFilter: ["value"], attributeOldValue: true});
"""
IMAGES = """
return Array.from(document.querySelectorAll("#results img")).map(
  (img) => ({src: img.getAttribute("src"), complete: img.complete, width: img.naturalWidth}));
"""


@pytest.fixture
def page(browser: Chrome, page_server: ServerProcess) -> Chrome:
    """The query page freshly loaded, with a new session and an empty console log."""
    browser.get(f"{page_server.url}/")
    browser.execute_script("window.sessionStorage.clear();")
    browser.get_log("browser")  # reading the log empties it
    return browser


def ask(driver: Chrome, question: str, *, enter: bool = False) -> None:
    box = driver.find_element(By.ID, "query")
    box.clear()
    box.send_keys(question)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "ask").click()


def wait_for(driver: Chrome, condition: Callable[[Chrome], Any], what: str) -> Any:
    """Wait for ``condition`` to be truthy; on timeout, fail with what the page shows."""
    try:
        return WebDriverWait(
            driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition)
    except Exception as exc:  # TimeoutException: say what the page showed instead
        shown = {i: text_of(driver, i) for i in ("answer", "error", "steps", "progress-text")}
        pytest.fail(f"waited {WAIT_SECONDS:.0f} s for {what}; the page shows {shown} ({exc!r})")


def text_of(driver: Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def shown(driver: Chrome, element_id: str) -> bool:
    return bool(driver.find_element(By.ID, element_id).is_displayed())


def answered(driver: Chrome) -> str:
    """The answer text once the query is done (the Ask button is enabled again)."""
    done = driver.find_element(By.ID, "ask").is_enabled()
    return text_of(driver, "answer") if done and shown(driver, "answer-section") else ""


def progress(driver: Chrome) -> tuple[float, float]:
    bar = driver.find_element(By.ID, "progress")
    return float(str(bar.get_property("value"))), float(str(bar.get_property("max")))


def steps(driver: Chrome) -> list[tuple[str, str]]:
    """(label, status) of each listed step."""
    items = driver.find_elements(By.CSS_SELECTOR, "#steps li")
    return [
        (
            item.find_element(By.CSS_SELECTOR, ".step-label").text,
            str(item.get_attribute("data-status")),
        )
        for item in items
    ]


def console_errors(driver: Chrome) -> list[str]:
    return [str(e["message"]) for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_answer_with_live_progress_steps_table_and_structure(page: Chrome) -> None:
    page.execute_script(WATCH_PROGRESS)
    ask(page, ASPIRIN_MW)

    answer = wait_for(page, answered, "the answer")
    assert "CHEMBL25" in answer
    assert re.search(r"\b180\.\d+", answer), answer  # aspirin's MW, 180.16 g/mol

    value, maximum = progress(page)
    assert value == maximum == 1.0
    assert text_of(page, "progress-text") == "100%"
    seen = [*page.execute_script("return window.progressSeen;"), value]
    assert any(0 < v < 1 for v in seen), f"the bar never showed progress between 0 and 1: {seen}"
    assert seen == sorted(seen), f"the bar went backwards: {seen}"

    listed = steps(page)
    assert len(listed) >= 2, listed
    assert {status for _, status in listed} <= {"ok", "cached"}, listed
    assert any("aspirin" in label.lower() for label, _ in listed), listed

    results = page.find_element(By.ID, "results")
    assert "Molecular weight (g/mol)" in results.text
    assert "180.16" in results.text
    asked = results.find_element(By.CSS_SELECTOR, "tr.asked")  # the property asked is marked
    assert "180.16" in asked.text

    images = wait_for(
        page,
        lambda d: (imgs := d.execute_script(IMAGES)) and all(i["complete"] for i in imgs) and imgs,
        "the structure image to load",
    )
    assert any("/v1/compounds/CHEMBL25/image.svg" in i["src"] for i in images), images
    assert all(i["width"] > 0 for i in images), images
    assert not shown(page, "error")
    assert console_errors(page) == []


def test_follow_up_in_the_same_page_answers_about_the_same_compound(page: Chrome) -> None:
    ask(page, ASPIRIN_MW)
    first = wait_for(page, answered, "the first answer")
    assert "CHEMBL25" in first

    ask(page, "what's its logP?", enter=True)
    second = wait_for(page, lambda d: (a := answered(d)) != first and a, "the follow-up answer")
    assert "CHEMBL25" in second
    assert re.search(r"logp", second, re.IGNORECASE), second
    assert "1.31" in second  # aspirin's ALogP in the ChEMBL panel
    assert console_errors(page) == []


def test_unknown_compound_shows_the_error_with_did_you_mean(page: Chrome) -> None:
    ask(page, "What is the molecular weight of asprin?")

    error = wait_for(page, lambda d: shown(d, "error") and text_of(d, "error"), "the error")
    assert "asprin" in error
    assert re.search(r"did you mean", error, re.IGNORECASE), error
    assert "CHEMBL25" in error
    assert not shown(page, "answer-section")
    assert page.find_element(By.ID, "ask").is_enabled()
    assert any(status == "error" for _, status in steps(page)), steps(page)

    # A suggestion asks again with the name corrected.
    page.find_element(By.CSS_SELECTOR, "#error button.correction").click()
    answer = wait_for(page, answered, "the corrected answer")
    assert "CHEMBL25" in answer
    assert "CHEMBL25" in str(page.find_element(By.ID, "query").get_property("value"))
    assert not shown(page, "error")
    # The 404 event is a data message, not a failed request: the console stays clean.
    assert console_errors(page) == []


def test_example_comparison_renders_a_ranking_with_structures(page: Chrome) -> None:
    example = "Which has higher LogP: aspirin or ibuprofen?"
    page.find_element(By.XPATH, f'//button[@class="example" and text()="{example}"]').click()
    answer = wait_for(page, answered, "the comparison")
    assert "CHEMBL521" in answer  # ibuprofen, the higher ALogP

    table = page.find_element(By.CSS_SELECTOR, "#results table.list")
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 2
    assert "IBUPROFEN" in rows[0].text  # best first
    images = wait_for(
        page,
        lambda d: (imgs := d.execute_script(IMAGES)) and all(i["complete"] for i in imgs) and imgs,
        "the structure images to load",
    )
    assert all(i["width"] > 0 for i in images), images
    assert console_errors(page) == []


def test_page_and_static_files_are_served_with_their_headers(page_server: ServerProcess) -> None:
    with page_server.client() as http:
        page = http.get("/")
        script = http.get("/static/app.js")
        style = http.get("/static/style.css")
        again = http.get("/static/app.js", headers={"If-None-Match": script.headers["etag"]})
        page_again = http.get("/", headers={"If-None-Match": page.headers["etag"]})
        missing = http.get("/static/nope.js")
        escape = http.get("/static/..%2f..%2fsettings.py")
        schema = http.get("/openapi.json").json()

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "img-src 'self' data:" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    assert 'id="query"' in page.text
    assert page_again.status_code == 304

    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert style.headers["content-type"].startswith("text/css")
    assert script.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert escape.status_code == 404
    assert "/" not in schema["paths"]


def test_the_page_has_no_inline_code_and_no_external_resources(
    page_server: ServerProcess,
) -> None:
    with page_server.client() as http:
        html, script, style = (
            http.get(p).text for p in ("/", "/static/app.js", "/static/style.css")
        )
    assert "<script>" not in html  # scripts only by src: the policy blocks inline ones
    assert not re.search(r"\son[a-z]+=", html)  # no onclick= handlers
    assert "style=" not in html
    assert "innerHTML" not in script  # data reaches the DOM through textContent only
    for text in (html, script, style):  # no CDN: the service runs offline
        assert not re.search(r"https?://|//cdn|@import", text)


def test_install_page_in_process_and_a_missing_page_fails_at_start(tmp_path: Path) -> None:
    app = FastAPI()
    install_page(app)
    with TestClient(app) as http:
        page = http.get("/")
        cached = http.get("/", headers={"If-None-Match": page.headers["etag"]})
        head = http.head("/")
        script = http.get("/static/app.js")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert cached.status_code == 304
    assert cached.content == b""
    assert head.status_code == 200
    assert script.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert script.headers["cache-control"] == "no-cache"

    with pytest.raises(RuntimeError, match=r"query page is missing: .*index\.html"):
        install_page(FastAPI(), directory=tmp_path)
