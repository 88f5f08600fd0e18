"""The demo in a real browser: headless Chromium (Debian's package) driven by Playwright.

The test starts `mspan-pyg demo`'s server on a free loopback port with a tiny model trained on
rendered videos, uploads an MP4, asks a question and reads the answer from the page; then a
video that cannot be decoded, whose error line must appear. The screenshot is kept as
``demo.png`` in the test's temporary folder (``--basetemp`` to choose it).

Skipped when Chromium or Playwright is missing, except under CI (``CI`` set), where that fails:
`.ci/run` installs chromium and chromium-driver.
"""

import importlib.util
import os
import shutil
import socket

import pytest

from mspan_pyg.video.answer import answer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
QUESTION = "what color is the first shape ?"
WAIT_MS = 120_000  # a cold start on a busy 2-core machine


def _need_browser():
    missing = []
    if not os.path.isfile(CHROMIUM):
        missing.append("chromium (apt-get install -y chromium chromium-driver)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install playwright)")
    if missing:
        reason = f"the browser test needs {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_answers_an_uploaded_video_in_chromium(tiny_video_model, tmp_path):
    _need_browser()
    from playwright.sync_api import sync_playwright

    from mspan_pyg.demo.app import launch_demo

    ckpt, videos = tiny_video_model
    video = os.path.join(videos, "v0002.mp4")
    want = answer(ckpt, video, QUESTION, top_k=5)["answers"][0]
    bad = tmp_path / "broken_clip.mp4"
    bad.write_text("this is a text file, not a video\n" * 20)

    port = free_port()
    page_server = launch_demo(ckpt, port=port, block=False, quiet=True)
    try:
        assert page_server.server_name == "127.0.0.1"
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),  # a fresh --user-data-dir
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 1400},
            )
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/", timeout=WAIT_MS)

                def ask(path: str, expected: str, enter: bool = False) -> str:
                    page.locator("#video input[type=file]").set_input_files(path)
                    # uploaded: the file's name shows (its stem and extension in two elements)
                    stem = os.path.splitext(os.path.basename(path))[0]
                    page.locator("#video").get_by_text(stem).first.wait_for(timeout=WAIT_MS)
                    box = page.locator("#question textarea, #question input").first
                    box.fill(QUESTION)
                    if enter:
                        box.press("Enter")
                    else:
                        page.locator("#ask").click()
                    page.locator("#answer").get_by_text(expected).first.wait_for(timeout=WAIT_MS)
                    return page.locator("#answer").inner_text()

                text = ask(video, "answer:")
                assert f"answer: {want[0]} ({want[1]:.1%})" in text
                assert "16 frames sampled of 12" in text
                page.locator("#explain img").first.wait_for(timeout=WAIT_MS)
                page.locator("#frames img").first.wait_for(timeout=WAIT_MS)
                assert page.locator("#scores").get_by_text(want[0]).count() >= 1
                page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

                page.locator("#video button[aria-label='Clear']").click()  # back to the upload
                text = ask(str(bad), "error:", enter=True)  # Enter asks too
                assert "broken_clip.mp4" in text and "not a readable video" in text
                page.screenshot(path=str(tmp_path / "demo_error.png"), full_page=True)
            finally:
                browser.close()
    finally:
        page_server.close()
