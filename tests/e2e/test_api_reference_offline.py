"""The API reference at ``/schema`` renders in a real browser with no way out of the machine: every
request not to the hub is refused (and recorded), as on a closed government network."""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import _unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        _unavailable("Chromium", FileNotFoundError(CHROMIUM))
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # an empty profile
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
        )
        yield context
        context.close()


def test_the_reference_lists_every_operation_with_the_network_cut_off(browser, hub_url):
    outside: list[str] = []

    def only_the_hub(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    document = httpx.get(hub_url + "/schema/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    page = browser.new_page()
    page.route("**/*", only_the_hub)
    page.goto(hub_url + "/schema")
    page.wait_for_selector(".opblock-summary", timeout=30_000)
    listed = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(listed) == operations, listed
    assert "/sed/v1/messages" in [path.replace("\u200b", "") for path in listed]
    assert page.locator(".scheme-container .authorize").count() == 1  # the bearer schemes are offered
    assert outside == []
    page.close()
