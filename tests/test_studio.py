"""The studio page driven in headless Chromium (Playwright) against the tiny SD3: mix, atlas, search, publish.

One server and one browser page for the module. Screenshots of every tab go to
``test-output/studio/`` at the repository's root (git-ignored) for a reviewer to look at. Chromium
is Debian's ``chromium`` package (``.ci/run`` installs it); without it these tests fail, naming
what to install.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import threading
import urllib.request
from pathlib import Path

import pytest

from tests._hub_fixtures import WRITE_TOKEN
from tests.hub_server import HubServer

# Gradio's queue calls pandas APIs that pandas 3 deprecates: not this project's warnings
pytestmark = pytest.mark.filterwarnings("ignore:::gradio.*")

CHROMIUM = os.environ.get("STYLEHUNT_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "studio"
STEPS, SIZE = "2", "64"
WAIT = 120_000  # ms: a slow shared CI machine


def _require_browser():
    """Fail (never skip) with what to install when the browser or its driver is missing."""
    missing = []
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium, or set STYLEHUNT_CHROMIUM)")
    try:
        import playwright  # noqa: F401
        import gradio  # noqa: F401
    except ImportError as e:
        missing.append(f"{e.name} (pip install -e '.[test,studio]')")
    if missing:
        pytest.fail("the studio tests need " + " and ".join(missing), pytrace=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_sd3_path):
    _require_browser()
    base = tmp_path_factory.mktemp("studio")
    cache = base / "cache"
    (cache / "tiny").mkdir(parents=True)
    (cache / "tiny" / "sd3-v1").symlink_to(tiny_sd3_path)  # the session's tiny SD3: no second build
    hub = HubServer()
    hub.__enter__()
    hub.state.add_token(WRITE_TOKEN, "alice")
    env = {"STYLEHUNT_CACHE": str(cache), "HF_HOME": str(base / "hf"), "HF_ENDPOINT": hub.url,
           "HOME": str(base / "home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("HF_TOKEN", raising=False)
        from stylehunt.studio import launch

        page, url = launch(out=base / "out", runs=base / "runs", port=_free_port(), model="tiny-sd3", block=False)
        try:
            yield {"url": url, "out": base / "out", "runs": base / "runs", "env": env, "hub": hub, "page": page}
        finally:
            for job in page.studio_jobs.values():
                job.stop()
            page.close()
            hub.__exit__(None, None, None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def studio_env(server, monkeypatch):
    """The module's caches and Hub for this test too (the autouse fixtures give each test its own)."""
    for key, value in server["env"].items():
        monkeypatch.setenv(key, value)
    return server


@pytest.fixture(scope="module")
def browser_page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)  # a missing element fails fast; long work waits WAIT
        page.goto(server["url"])
        yield page
        browser.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _fill(page, elem_id: str, value: str, enter: bool = False) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    if enter:
        box.press("Enter")


def _wait_text(page, elem_id: str, text: str) -> str:
    from playwright.sync_api import expect

    expect(page.locator(f"#{elem_id}")).to_contain_text(text, timeout=WAIT)
    return page.locator(f"#{elem_id}").inner_text()


@contextlib.contextmanager
def _held_draw(studio, nth: int):
    """``studio.draw`` holds its ``nth`` image until the test sets the gate: a Cancel lands mid-action on a
    machine of any speed. Yields ``(drawn, gate)``; the method is restored after."""
    drawn, gate, real_draw = [], threading.Event(), studio.draw

    def held_draw(*args, **kwargs):
        image = real_draw(*args, **kwargs)
        drawn.append(image)
        if len(drawn) == nth:
            gate.wait(60)
        return image

    studio.draw = held_draw  # an instance attribute over the method
    try:
        yield drawn, gate
    finally:
        gate.set()
        del studio.draw


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _pixels(page, selector: str):
    """The image shown by an <img> of the page, fetched as the browser does, as a numpy array."""
    import numpy as np
    from PIL import Image

    src = page.locator(selector).first.get_attribute("src")
    with urllib.request.urlopen(src if src.startswith("http") else page.url.rstrip("/") + src) as r:
        return np.asarray(Image.open(io.BytesIO(r.read())).convert("RGB"), dtype=np.int16)


def _loaded(page, studio_env, again: bool = False) -> None:
    _tab(page, "Model")
    text = page.locator("#model-msg").inner_text()
    assert "loaded StableDiffusion3Pipeline (tiny-sd3)" in text  # launch(model=...) loaded it before serving
    if again:
        import time

        studio = studio_env["page"].studio
        before = studio.pipe
        _fill(page, "model", "tiny-sd3")
        page.locator("#load").click()
        deadline = time.monotonic() + WAIT / 1000
        while studio.pipe is before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert studio.pipe is not before  # a fresh pipeline from the button
        _wait_text(page, "model-msg", "loaded StableDiffusion3Pipeline (tiny-sd3) on cpu in float32")


def _write_preset(server, name: str, heads, model: str = "tiny-sd3") -> str:
    from stylehunt import Preset
    from stylehunt.engine import head_grid

    out = server["out"]
    grid = head_grid(server["page"].studio.pipe)
    Preset(heads=heads, strength=0.8, scale=3.0, name=name, version="0.1.0", model=model, license="apache-2.0",
           fingerprint=grid.fingerprint(), provenance={"kind": "manual", "source": "a test"}).save(out / f"{name}.json")
    return f"{name}.json"


def test_mix_two_presets_differs_from_baseline_and_each_other(browser_page, studio_env):
    page = browser_page
    _loaded(page, studio_env, again=True)  # the Load button, as a user changing models presses it
    _shot(page, "model")
    mine = _write_preset(studio_env, "mine", [(1, 2), (0, 3)])
    _tab(page, "Mix")
    _fill(page, "preset-0", "tiny-sd3/warm", enter=True)
    _fill(page, "preset-1", mine, enter=True)
    _fill(page, "steps", STEPS)
    _fill(page, "size", SIZE)
    page.locator("#generate").click()
    _wait_text(page, "mix-msg", "done")
    _shot(page, "mix")
    baseline, styled = _pixels(page, "#baseline img"), _pixels(page, "#styled img")
    assert baseline.shape == styled.shape == (64, 64, 3)
    assert abs(styled - baseline).mean() > 1.0
    assert page.locator("#sweep img").count() == 4
    row = [_pixels(page, f"#sweep img >> nth={i}") for i in range(4)]
    assert all(abs(a - b).mean() > 0.1 for i, a in enumerate(row) for b in row[i + 1:])  # each u differs
    assert abs(row[-1] - styled).mean() < 1e-6  # the row ends with the styled image itself
    assert any((studio_env["out"] / ".studio-cache").rglob("*.png"))  # Gradio's cache sits inside --out


def test_errors_are_messages_and_paths_stay_inside(browser_page, studio_env, tmp_path):
    page = browser_page
    _loaded(page, studio_env)
    _tab(page, "Mix")
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (studio_env["out"] / "link.json").symlink_to(outside)
    for ref, said in (("../../../../etc/passwd", "leads outside"), ("/etc/passwd", "not a path relative"),
                      ("link.json", "leads outside")):
        _fill(page, "preset-0", ref, enter=True)
        _fill(page, "preset-1", "", enter=True)
        page.locator("#generate").click()
        text = _wait_text(page, "mix-msg", said)
        assert "Traceback" not in text and "Hint:" in text
    _shot(page, "mix-error")
    _tab(page, "Publish")
    _fill(page, "publish-file", "../../etc/passwd")
    _fill(page, "publish-repo", "alice/x")
    page.locator("#publish-plan").click()
    _wait_text(page, "publish-msg", "leads outside")
    # Gradio's own file route serves only the folders (and its cache inside --out)
    for path in ("/etc/passwd", str(outside)):
        try:
            with urllib.request.urlopen(f"{studio_env['url'].rstrip('/')}/gradio_api/file={path}") as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, b""
        assert status >= 400 and b"root:" not in body and body != b"{}"


def test_atlas_cell_added_to_a_saved_preset(browser_page, studio_env):
    page = browser_page
    _loaded(page, studio_env)
    _tab(page, "Atlas")
    _fill(page, "atlas-steps", STEPS)
    _fill(page, "atlas-size", SIZE)
    page.locator("#atlas-render").click()
    _wait_text(page, "atlas-msg", "8 heads")
    page.locator("#atlas img").nth(3).hover()  # a cell under the pointer grows to show its image
    transform = "e => getComputedStyle(e).transform"
    assert page.locator("#atlas img").nth(3).evaluate(transform) != "none"
    assert page.locator("#atlas img").nth(5).evaluate(transform) == "none"  # the others stay as they are
    page.locator("#atlas img").nth(3).click()  # a row per layer, the unguided image first: 3 is L0 h2
    from playwright.sync_api import expect

    expect(page.locator("#cell-label input, #cell-label textarea").first).to_have_value("0:2")
    page.locator("#add-head").click()
    page.locator("#atlas img").nth(7).click()  # row 2: L1 h1
    expect(page.locator("#cell-label input, #cell-label textarea").first).to_have_value("1:1")
    page.locator("#add-head").click()
    _wait_text(page, "atlas-msg", "2 head(s)")
    _fill(page, "save-name", "picked")
    page.locator("#save-preset").click()
    _wait_text(page, "atlas-msg", "saved picked.json")
    _shot(page, "atlas")
    saved = json.loads((studio_env["out"] / "picked.json").read_text())
    assert saved["heads"] == [[0, 2], [1, 1]] and saved["model"]["id"] == "tiny-sd3"


def test_a_cancelled_atlas_stops_between_images_and_leaves_the_pipeline_bare(browser_page, studio_env):
    import time

    import stylehunt

    page = browser_page
    _loaded(page, studio_env)
    _tab(page, "Atlas")
    _fill(page, "atlas-steps", STEPS)
    _fill(page, "atlas-size", SIZE)
    # the cancel lands while the second head's image is being made: that image is held until Cancel is
    # pressed (counting on the images being slow raced on a fast, idle machine)
    studio = studio_env["page"].studio
    with _held_draw(studio, 3) as (drawn, gate):  # the unguided image, head 1, then head 2 waits for the test
        page.locator("#atlas-render").click()
        _wait_text(page, "atlas-msg", "head 1 of 8")
        page.locator("#atlas-cancel").click()
        time.sleep(2)  # the click (queue=False: no waiting behind the atlas) sets the flag before the image returns
        gate.set()
        _wait_text(page, "atlas-msg", "cancelled")
        time.sleep(3)
        text = page.locator("#atlas-msg").inner_text()
        assert "cancelled after 1 heads of 8" in text  # the action's own last word: nothing after it
        assert len(drawn) == 3  # no image was asked for after the cancel
        with studio.lock:  # the image being made when the cancel came is finished first
            assert stylehunt.get_applied(studio.pipe) is None


def test_a_cancelled_model_load_keeps_the_loaded_model(browser_page, studio_env, monkeypatch):
    """Loading a model is one library call: Cancel ends the page's wait at once, and the pipeline the
    load returns afterwards is dropped, so the model loaded before stays."""
    import time

    import stylehunt.models

    page, studio = browser_page, studio_env["page"].studio
    _loaded(page, studio_env)
    before = studio.pipe
    release, returned = threading.Event(), threading.Event()
    real = stylehunt.models.load_pipeline

    def slow_load(*args, **kwargs):  # a load that takes as long as the test says
        release.wait(60)
        try:
            return real(*args, **kwargs)
        finally:
            returned.set()

    monkeypatch.setattr(stylehunt.models, "load_pipeline", slow_load)
    _fill(page, "model", "tiny-sd3")
    page.locator("#load").click()
    _wait_text(page, "model-msg", "loading tiny-sd3 ...")
    page.locator("#load-stop").click()
    text = _wait_text(page, "model-msg", "cancelled")
    assert "loaded StableDiffusion3Pipeline (tiny-sd3)" in text  # what stays loaded
    release.set()
    assert returned.wait(WAIT / 1000)
    time.sleep(1)  # the load's thread checks the cancel once its call returned
    assert studio.pipe is before
    assert "cancelled" in page.locator("#model-msg").inner_text()  # the finished load did not overwrite it
    _shot(page, "model-cancelled")


def test_search_stopped_then_resumed_is_the_clis_run(browser_page, studio_env):
    from stylehunt.studio.searches import read_rounds

    page = browser_page
    _loaded(page, studio_env)
    _tab(page, "Search")
    _fill(page, "run-name", "warm-1")
    _fill(page, "objective", "warmth", enter=True)
    _fill(page, "search-prompts", "a red barn\na blue lake")
    _fill(page, "rounds", "2")
    _fill(page, "per-round", "1")
    _fill(page, "search-steps", "16")  # seconds of work left when the first unit (the baseline) is recorded, even alone on an idle machine
    _fill(page, "search-size", SIZE)
    page.locator("#search-start").click()
    from playwright.sync_api import expect

    expect(page.locator("#search-msg")).to_contain_text(re.compile(r"running: 0/2 rounds finished, [1-9]\d* images"),
                                                         timeout=WAIT)
    page.locator("#search-stop").click()
    _wait_text(page, "search-msg", "stopped")
    run = studio_env["runs"] / "warm-1"
    points, images = read_rounds(run)
    assert len(points) < 2 and not (run / "stylehunt_preset.json").exists()
    assert json.loads((run / "command.json").read_text())["settings"]["rounds"] == 2  # the CLI's own record
    _shot(page, "search-stopped")
    page.locator("#search-resume").click()
    _wait_text(page, "search-msg", "finished: heads:")
    _shot(page, "search")
    points, after = read_rounds(run)
    assert [p.round for p in points] == [1, 2] and after >= images
    assert (run / "stylehunt_preset.json").is_file() and (run / "grid.png").is_file()
    from stylehunt.cli import main

    assert main(["show", str(run)]) == 0  # the CLI reads the run folder as it reads its own
    assert page.locator("#best img").count() >= 2  # a picture per round, then the run's figures


def test_publish_behind_confirmation_to_the_local_hub(browser_page, studio_env):
    from stylehunt import load_preset

    page = browser_page
    _loaded(page, studio_env)
    name = _write_preset(studio_env, "to-publish", [(0, 1)])
    _tab(page, "Mix")
    _fill(page, "steps", STEPS)
    _fill(page, "size", SIZE)
    _tab(page, "Publish")
    _fill(page, "publish-file", name)
    _fill(page, "publish-repo", "alice/studio-warm")
    _fill(page, "publish-name", "tiny-sd3/studio-warm")
    _fill(page, "publish-token", WRITE_TOKEN)
    # a Prepare cancelled between its two preview images prepares nothing: Publish still asks for one
    studio = studio_env["page"].studio
    with _held_draw(studio, 1) as (drawn, gate):  # the first preview image waits until Cancel is pressed
        page.locator("#publish-plan").click()
        _wait_text(page, "publish-msg", "image 1 of 2")
        page.locator("#publish-plan-stop").click()
        gate.set()
        _wait_text(page, "publish-msg", "cancelled: nothing was prepared")
        assert len(drawn) == 1  # the second image was never asked for
    page.locator("#publish-confirm input").check()
    page.locator("#publish-go").click()
    _wait_text(page, "publish-msg", "nothing prepared to publish")
    page.locator("#publish-confirm input").uncheck()
    page.locator("#publish-plan").click()
    _wait_text(page, "publish-msg", "ready")
    from playwright.sync_api import expect

    expect(page.locator("#publish-ref input, #publish-ref textarea").first).to_have_value("hf-hub:alice/studio-warm@v0.1.0")
    assert page.locator("#publish-previews-shown img").count() == 2  # the styled image and its baseline
    page.locator("#publish-go").click()
    _wait_text(page, "publish-msg", "needs your confirmation")
    page.locator("#publish-confirm input").check()
    page.locator("#publish-go").click()
    _wait_text(page, "publish-msg", "published")
    _shot(page, "publish")
    preset = load_preset("hf-hub:alice/studio-warm@v0.1.0")
    assert preset.heads == ((0, 1),) and preset.name == "tiny-sd3/studio-warm"
    _tab(page, "Mix")  # the Hub's presets (`stylehunt list --hub`) become choices of the preset slots
    page.locator("#hub-list").click()
    _wait_text(page, "mix-msg", "hf-hub:alice/studio-warm@v0.1.0")


def test_mix_on_a_video_model_writes_both_videos_and_shows_the_styled_one(browser_page, studio_env):
    """A video model on the Mix tab (tiny Wan 2.2, both experts guided): the baseline and the styled
    video are written as mp4s in --out, and the page shows the styled one with a row of its frames.
    Last in the module: it leaves tiny-wan loaded."""
    page = browser_page
    _tab(page, "Model")
    _fill(page, "model", "tiny-wan")
    page.locator("#load").click()
    _wait_text(page, "model-msg", "loaded WanPipeline (tiny-wan)")
    _tab(page, "Mix")
    _fill(page, "preset-0", "tiny-wan/warm", enter=True)
    for slot, heads in ((1, [(0, 1)]), (2, [(1, 3), (0, 2)])):  # the SD3 presets earlier tests chose do not fit Wan
        _fill(page, f"preset-{slot}", _write_preset(studio_env, f"wan-{slot}", heads, model="tiny-wan"), enter=True)
    _fill(page, "steps", STEPS)
    _fill(page, "size", SIZE)
    page.locator("#generate").click()
    _wait_text(page, "mix-msg", "done: baseline, styled (seed")  # the image mix said "styled and the sweep"
    _shot(page, "mix-video")
    out = studio_env["out"]
    baseline, styled = (out / "mix-baseline.mp4").read_bytes(), (out / "mix-styled.mp4").read_bytes()
    assert baseline[4:8] == styled[4:8] == b"ftyp" and baseline != styled
    assert page.locator("#video video").count() == 1
    assert page.locator("#frames img").count() == 9  # 81 frames, every 10th shown
