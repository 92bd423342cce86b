"""The admin console in a real browser: headless Chromium (Debian's) driven by Selenium against a
real host. Signs in, replays a dead letter, watches the live counts change, recomputes earnings,
sends a test notification; saves a screenshot of every page (printed at the end)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.conftest import memory_settings, unavailable
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import POISON_TEST_JOB, JobStatus
from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token

OPERATOR = system_actor("tests")


SENDER = Actor("test-sender", roles=["service"])

SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", Path(__file__).resolve().parents[1] / "artifacts" / "console"))


@pytest.fixture
def server() -> Iterator[tuple[str, Services]]:
    settings = memory_settings()
    services = bootstrap(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = uvicorn.Server(uvicorn.Config(create_app(settings, services), port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=host.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not host.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", services
    finally:
        host.should_exit = True
        thread.join(timeout=10)
        services.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        unavailable("Chromium and chromedriver (Debian packages chromium, chromium-driver)", "not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll ``condition``; an element not there yet (the page still loading, or replaced) counts as not yet."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def dead_job(services: Services) -> int:
    job_id = services.jobs.enqueue(POISON_TEST_JOB, {"fail": True}, max_attempts=1)
    [claimed] = [job for job in services.jobs.claim(50) if job.id == job_id]
    services.jobs.fail(claimed, "the payment provider said no")
    return job_id


def test_an_admin_works_the_console_in_a_browser(server: tuple[str, Services], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, services = server
    SHOTS.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        browser.save_screenshot(str(SHOTS / f"{name}.png"))

    def text(selector: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, selector).text)

    def live() -> bool:
        return browser.find_element(By.CSS_SELECTOR, ".live").get_attribute("data-state") == "live"

    first = dead_job(services)
    # Given an admin who opens the console: sent to sign in, where they paste their token
    browser.get(base + "/console/jobs")
    assert "/console/sign-in" in browser.current_url
    shot("sign-in")
    token = mint_token(services.settings.jwt_secret, "root", now=datetime.now(UTC), roles=["admin"])
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    # Then the jobs page, with its dead letter highlighted and live counts connected
    wait_until(lambda: browser.current_url.endswith("/console/jobs"), "the jobs page")
    wait_until(live, "the live counts to connect")
    assert text('[data-count="dead"]') == "1"
    assert "nonzero" in (browser.find_element(By.CSS_SELECTOR, '[data-card="dead"]').get_attribute("class") or "")
    assert browser.find_element(By.CSS_SELECTOR, f'tr.dead[data-dead-job="{first}"]')
    shot("jobs")
    # When they inspect it
    browser.find_element(By.LINK_TEXT, f"#{first}").click()
    wait_until(lambda: "the payment provider said no" in browser.page_source, "the job page")
    shot("job")
    # And replay it
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Replay job {first}"]').click()
    wait_until(lambda: "replayed" in browser.page_source, "the replay notice")
    assert services.jobs.get(OPERATOR, first).status is JobStatus.PENDING
    wait_until(live, "the live counts to reconnect")
    wait_until(lambda: text('[data-count="dead"]') == "0", "the replayed job to leave the dead letters")
    # When another job dies elsewhere, the page's counts change by themselves (SSE, no reload)
    marker = browser.find_element(By.TAG_NAME, "h1")
    second = dead_job(services)
    wait_until(lambda: text('[data-count="dead"]') == "1", "the live dead-letter count")
    assert marker.is_displayed()  # the same document: nothing reloaded
    assert services.jobs.get(OPERATOR, second).status is JobStatus.DEAD
    shot("jobs-live")
    # When they pause the poison type, then cancel the replayed job (running: the second
    # dead job's claim took it)
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Pause {POISON_TEST_JOB}"]').click()
    wait_until(lambda: "paused: no worker claims it" in browser.page_source, "the pause notice")
    assert text(f'[data-control-state="{POISON_TEST_JOB}"]') == "paused"
    assert any(c.paused for c in services.jobs.type_controls(Actor("root", {"admin"})))
    wait_until(live, "the live counts after the pause")
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Cancel running job {first}"]').click()
    wait_until(lambda: f"Job {first} cancelled" in browser.page_source, "the cancel notice")
    assert services.jobs.get(OPERATOR, first).status is JobStatus.CANCELLED
    wait_until(live, "the live counts after the cancel")
    assert text('[data-count="cancelled"]') == "1"
    # And discard the dead letters matching an error text, through the bulk form
    browser.find_element(By.ID, "bulk-error").send_keys("PAYMENT PROVIDER")
    browser.find_element(By.CSS_SELECTOR, "[data-bulk-form] button.danger").click()
    wait_until(lambda: "1 dead letter discarded" in browser.page_source, "the discard notice")
    wait_until(live, "the live counts after the discard")
    wait_until(lambda: text('[data-count="dead"]') == "0", "the discarded dead letter to leave the counts")
    shot("jobs-controls")

    # Earnings: cards, timeline and a recompute for a creator
    admin = Actor("root", {"admin"})
    services.earnings.record(admin, creator_id="carol", kind="sale", amount=4200, currency="USD", idempotency_key="s1")
    services.earnings.record(admin, creator_id="carol", kind="tip", amount=350, currency="USD", idempotency_key="t1")
    browser.find_element(By.LINK_TEXT, "Earnings").click()
    browser.find_element(By.ID, "creator_id").send_keys("carol")
    browser.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    wait_until(lambda: "45.50 USD" in browser.page_source, "carol's summary")
    browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Recompute the totals of carol"]').click()
    wait_until(lambda: "Recomputed 2 events" in browser.page_source, "the recompute notice")
    shot("earnings")

    # Notifications: send a test to alice and watch her unread count live
    browser.find_element(By.LINK_TEXT, "Notifications").click()
    browser.find_element(By.ID, "user_id").send_keys("alice")
    browser.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    wait_until(lambda: "Sent " in browser.page_source, "the send notice")
    wait_until(live, "the live unread counts")
    assert text('[data-lane="total"]') == "1"
    services.notifications.send(SENDER, "alice", "inapp", "tip", title="A tip from bob")
    wait_until(lambda: text('[data-lane="total"]') == "2", "alice's live unread count")
    shot("notifications")

    # On a phone-width screen the jobs page still reads (no sideways scroll of the page)
    browser.set_window_size(390, 844)
    browser.get(base + "/console/jobs")
    wait_until(live, "the live counts on a phone")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot("jobs-phone")
    print(f"\nconsole screenshots: {SHOTS}")
