"""The pages in a real browser: Debian's chromium, headless, driven by Playwright for Python
(``executable_path``: Playwright's own browser download is not needed). Each test skips cleanly
where chromium or Playwright is missing; ``.ci/run`` installs both.

In the browser: a photo uploaded through the page's file input is encoded (figures and a .gcz
link shown), decoded (the comparison and the ΔE94 map shown) and colorized; a junk file gives
the server's error line; the survey page is clicked through and its answer file downloaded and
scored.
"""
import io
import json
import shutil
import subprocess
import threading

import numpy as np
import pytest
from PIL import Image

from graycodec import server, survey

from conftest import random_rgb

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH (apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture
def base_url(fake_predictor):
    httpd = server.make_server(server.App(), "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def page():
    if BROWSER is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


@pytest.fixture
def photo(tmp_path):
    """A smooth colour photo stand-in (gradients), so the decoded comparison is meaningful."""
    y, x = np.mgrid[0:96, 0:128]
    rgb = np.dstack([x * 2, y * 2, 255 - x - y]).clip(0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def test_upload_encode_decode_colorize(page, base_url, photo, fake_predictor):
    page.goto(base_url + "/")
    assert page.is_disabled("#encode") and page.is_disabled("#decode")
    page.set_input_files("#file", str(photo))
    page.select_option("#hints", "high")
    page.click("#encode")
    page.wait_for_selector("#encoded:not([hidden])")
    figures = page.text_content("#encoded-figures")
    assert "128×96" in figures and "bits per pixel" in figures and "against uncompressed 24-bit RGB" in figures
    assert page.get_attribute("#encoded-link", "href").startswith("blob:")
    with page.expect_download() as dl:
        page.click("#encoded-link")
    data = open(dl.value.path(), "rb").read()
    assert data.startswith(b"\x89GCZ") and dl.value.suggested_filename == "photo.gcz"

    page.click("#decode")
    page.wait_for_selector("#result:not([hidden])")
    text = page.text_content("#result-figures")
    assert "decoded 128×96" in text and "ΔE94" in text
    mean = float(text.split("original")[1].split("(")[0])
    assert 0 <= mean < 10  # hints=high through the stand-in model: colours close to the source
    assert page.is_visible("#heatmap") and page.is_visible("#split")
    page.fill("#split", "20")
    assert "80%" in page.get_attribute("#top", "style")

    page.click("#colorize")
    page.wait_for_function("document.querySelector('#result-tag').textContent === 'colorized'")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')")
    assert "colorized 128×96" in page.text_content("#result-figures")
    assert fake_predictor.loads == 1 and len(fake_predictor.calls) == 2


def test_gcz_upload_decodes_without_original(page, base_url, photo, tmp_path, fake_predictor):
    from graycodec import codec

    gcz = tmp_path / "x.gcz"
    gcz.write_bytes(codec.encode(photo))
    page.goto(base_url + "/")
    page.set_input_files("#file", str(gcz))
    assert page.is_disabled("#encode") and page.is_enabled("#decode")
    page.click("#decode")
    page.wait_for_selector("#result:not([hidden])")
    assert "ΔE94" not in page.text_content("#result-figures") and page.is_hidden("#heat")


def test_junk_upload_shows_the_error_line(page, base_url, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture" * 20)
    page.goto(base_url + "/")
    page.set_input_files("#file", str(junk))
    page.click("#encode")
    page.wait_for_selector("#status.error")
    assert page.text_content("#status") == "not an image (unknown or unsupported format)"


def test_survey_click_through_and_score(page, tmp_path, fake_predictor):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(4):
        Image.fromarray(random_rgb(30, 40, k)).save(photos / f"p{k}.png")
    items = survey.build([photos], tmp_path / "s", count=4, seed=5, size=40)
    page.goto((tmp_path / "s" / "index.html").as_uri())
    assert "real or colorized" in page.inner_text("body").lower()
    page.click("#start")
    shown = []
    for k in range(4):
        assert page.text_content("#progress") == f"Photo {k + 1} of 4"
        page.wait_for_function("document.querySelector('#photo').complete && document.querySelector('#photo').naturalWidth > 0")
        shown.append(page.get_attribute("#photo", "src"))
        page.click("#say-real" if k % 2 == 0 else "#say-colorized")
    assert sorted(shown) == sorted(f"img/{i.item}.jpg" for i in items)
    page.fill("#who", "tester")
    with page.expect_download() as dl:
        page.click("#download")
    answers = json.loads(open(dl.value.path()).read())
    assert answers["participant"] == "tester" and len(answers["answers"]) == 4
    said = {a["item"]: a["said"] for a in answers["answers"]}
    result = survey.score(tmp_path / "s", [dl.value.path()])
    fooled = sum(said[i.item] == "real" for i in items if i.truth == "colorized")
    assert result["fool_rate"] == pytest.approx(fooled / sum(i.truth == "colorized" for i in items))
    assert result["participants"][0]["participant"] == "tester"


@needs_browser
def test_dump_dom_and_screenshot_without_playwright(base_url, tmp_path):
    """Chromium's own --dump-dom and --screenshot (what the acceptance check uses)."""
    common = [BROWSER, "--headless=new", *ARGS, f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run",
              "--virtual-time-budget=3000"]
    dom = subprocess.run([*common, "--dump-dom", base_url + "/"], capture_output=True, text=True, timeout=120).stdout
    assert 'type="file"' in dom and "Encode" in dom and "Colorize" in dom
    shot = tmp_path / "page.png"
    subprocess.run([*common, "--window-size=1280,900", f"--screenshot={shot}", base_url + "/"],
                   capture_output=True, timeout=120)
    px = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).reshape(-1, 3)
    _, counts = np.unique(px, axis=0, return_counts=True)
    assert 1 - counts.max() / len(px) > 0.002  # not blank
