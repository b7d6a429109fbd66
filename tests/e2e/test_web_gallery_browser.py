"""The web gallery in a real headless browser: Debian's Chromium, driven by Playwright (its pip
package brings only the driver; the browser is the system's, never one Playwright downloads).

The real bot runs in-process against the local Discord; images are shared through the Discord
flow, the admin turns the web gallery on, and the browser opens the link: the grid shows the
shared images (their thumbnails load, the stylesheet applies, nothing trips the CSP), a search
finds one by a word of its prompt, a withdrawn one is gone on reload and its file answers 404, a
hidden one never shows, a wrong token is 404, and on a phone's width the grid has two columns and
nothing scrolls sideways. Screenshots of the desktop grid, an image's page and the phone grid
are written to the test's tmp_path (``--basetemp`` keeps them where you want them).

Skipped when the browser or Playwright is missing, except in CI (CI=true), where that fails:
``.ci/run`` installs Debian's chromium.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_experience import press
from tests.e2e.test_gallery import post_of, reply_text, result_for, setup_gallery, share, vote
from tests.e2e.test_web_gallery import generation_of, turn_on, with_public_address
from tests.waiting import wait_until

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_THERE = CHROMIUM.exists()
# Known to work here as root in a container (a fresh profile comes from Playwright).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.timeout(180)


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the browser test cannot run in CI: {why}")
    pytest.skip(why)


@pytest.fixture
async def browser(tmp_path):
    """A fresh Chromium profile in tmp_path, desktop-sized pages; console messages collected."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM_THERE:
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport=DESKTOP,
        )
        try:
            yield context
        finally:
            await context.close()


async def tile_titles(page) -> list[str]:
    return await page.locator(".tile .title").all_inner_texts()


async def images_loaded(page) -> bool:
    return await page.evaluate(
        "() => [...document.images].every(img => img.complete && img.naturalWidth > 0)"
    )


async def test_the_web_gallery_in_a_real_browser(world, browser, tmp_path):
    await with_public_address(world)
    await setup_gallery(world)
    link, _ = await turn_on(world)
    shared = {}
    for prompt, title in (
        ("an orange kite over the sea", "Kite"),
        ("a blue whale singing", "Whale"),
        ("a green frog on a leaf", "Frog"),
        ("a red fox in the snow", "Fox"),
        ("a purple hat with a feather", "Hat"),
    ):
        result = await result_for(world, prompt)
        await share(world, world.alice, result, title=title)
        shared[title] = (generation_of(result), post_of(world))
        if title == "Whale":
            await vote(world, world.bob, result)
    _, (hat_post, hat_starter) = shared["Hat"]
    hidden = await press(world, world.mod, hat_starter, "Hide")
    assert "Hidden" in (await reply_text(world, hidden, hat_post)).content

    page = await browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    # The grid: the shared images, newest first, never the hidden one.
    response = await page.goto(link)
    assert response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert await tile_titles(page) == ["Fox", "Frog", "Whale", "Kite"]
    await page.wait_for_load_state("load")
    assert await images_loaded(page), "every thumbnail loads from the bot's own copies"
    background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(30, 31, 34)", "the stylesheet applies under the CSP"
    await page.screenshot(path=str(tmp_path / "gallery-desktop.png"), full_page=True)
    await page.click("text=Most voted")
    await page.wait_for_url("**?sort=top")
    assert (await tile_titles(page))[0] == "Whale"
    assert "★ 1" in await page.locator(".tile .meta").first.inner_text()

    # Search by a word of a prompt (the order chosen stays: most voted).
    await page.fill("input[name=q]", "kite")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**?q=kite&sort=top")
    assert await tile_titles(page) == ["Kite"]
    await page.fill("input[name=q]", "feather")  # the hidden one is not found either
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**?q=feather&sort=top")
    assert await tile_titles(page) == []
    assert "No shared image matches" in await page.inner_text("main")

    # One image's page, from its tile.
    await page.goto(link)
    await page.click("text=Whale")
    await page.wait_for_url("**/image/*")
    assert await page.inner_text("h1") == "Whale"
    assert "a blue whale singing" in await page.inner_text(".prompt")
    assert "alice" in await page.inner_text(".details")
    await page.wait_for_load_state("load")
    assert await images_loaded(page)
    await page.screenshot(path=str(tmp_path / "gallery-image.png"), full_page=True)

    # Withdraw one: gone on reload, and its files answer 404.
    kite_id, (kite_post, kite_starter) = shared["Kite"]
    await page.goto(link)
    assert "Kite" in await tile_titles(page)
    await press(world, world.alice, kite_starter, "Withdraw")
    await wait_until(lambda: kite_post.deleted)
    await page.reload()
    assert await tile_titles(page) == ["Fox", "Frog", "Whale"]
    for path in ("files/{}/thumb.webp", "files/{}/full.png", "image/{}"):
        gone = await page.goto(f"{link}/{path.format(kite_id)}")
        assert gone.status == 404, path

    # The hidden one never shows: not its page, not its file.
    hat_id, _ = shared["Hat"]
    assert (await page.goto(f"{link}/files/{hat_id}/thumb.webp")).status == 404
    assert (await page.goto(f"{link}/image/{hat_id}")).status == 404

    # A wrong token.
    wrong = link[:-43] + ("A" * 43 if not link.endswith("A" * 43) else "B" * 43)
    assert (await page.goto(wrong)).status == 404

    # A phone: two columns, nothing wider than the screen.
    await page.set_viewport_size(PHONE)
    await page.goto(link)
    await page.wait_for_load_state("load")
    boxes = [await tile.bounding_box() for tile in await page.locator(".tile").all()]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[2]["y"] > boxes[0]["y"], boxes
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(tmp_path / "gallery-phone.png"), full_page=True)

    assert not [m for m in console if "Content Security Policy" in m], console
    for name in ("gallery-desktop.png", "gallery-image.png", "gallery-phone.png"):
        assert (tmp_path / name).stat().st_size > 5_000
