"""`i2i-zoo serve`: the page driven in a real headless browser (Debian's chromium and
chromedriver, which `make test` installs): upload, choose, translate, errors on the page, and
every request the page makes going to the local server."""

from __future__ import annotations

import json
import socket
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest
import torch

from i2i_zoo.cli import run
from i2i_zoo.convert import save_checkpoint
from i2i_zoo.data.demo import ensure_demo
from i2i_zoo.data.io import read_image, to_tensor
from i2i_zoo.methods import METHODS
from i2i_zoo.methods.base import translate_any_size
from i2i_zoo.serve import Translator, build_app, launch

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 30


def tiny_model(name: str, tmp_path: Path):
    """A tiny untrained model of the registry, through a checkpoint as `i2i-zoo serve` loads it."""
    from i2i_zoo.export import load_method

    torch.manual_seed(0)
    return load_method(save_checkpoint(METHODS[name].build(), tmp_path / f"{name}.ckpt"))


@contextmanager
def served(model):
    """The page of `model` on a free local port, closed at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as output_root:
        app = launch(build_app(Translator(model), "test", output_root), "127.0.0.1", port, output_root, block=False)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            app.close()


@pytest.fixture(scope="module")
def browser():
    """Headless chromium with its network log. Never skipped: a browser that cannot start fails."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    yield driver
    driver.quit()


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for since the last call (Chrome's performance log)."""
    messages = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
    return [m["params"]["request"]["url"] for m in messages if m["method"] == "Network.requestWillBeSent"]


def assert_all_local(urls: list[str], base: str) -> None:
    assert urls, "the browser log recorded no request"
    elsewhere = [url for url in urls if not url.startswith("data:") and urlparse(url).netloc != urlparse(base).netloc]
    assert not elsewhere, f"the page fetched from elsewhere: {elsewhere}"


def wait_for(driver, condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the page says: {driver.find_element('tag name', 'body').text[:2000]}")


def open_page(driver, base: str) -> None:
    driver.get(base)
    wait_for(driver, lambda: driver.find_elements("id", "translate"), "the page")


def upload(driver, element_id: str, path: Path) -> None:
    """Put `path` into a file box (clearing an earlier file) and wait until it is uploaded."""
    box = driver.find_element("id", element_id)
    for clear in box.find_elements("css selector", "button[aria-label='Clear']"):
        clear.click()
    wait_for(driver, lambda: box.find_elements("css selector", "input[type=file]"), f"#{element_id}'s file input")
    box.find_element("css selector", "input[type=file]").send_keys(str(path))
    wait_for(driver, lambda: path.stem in box.text, f"{path.name} in #{element_id}")  # shown as stem and suffix


def translate(driver) -> str:
    """Click Translate and return the status line once the page has answered (a new line: each
    call here changes the choices or the image)."""
    status = driver.find_element("id", "status")
    before = status.text
    driver.find_element("id", "translate").click()
    return wait_for(driver, lambda: status.text != before and ("Translated" in status.text or "Error" in status.text) and status.text,
                    "the translation")  # fmt: skip


def shown_output(driver, previous: np.ndarray | None = None) -> np.ndarray:
    """The output image as the page shows it, fetched from its src (once it differs from `previous`)."""

    def fetch() -> list[np.ndarray] | None:
        sources = [image.get_attribute("src") for image in driver.find_elements("css selector", "#output-image img")]
        if not sources:
            return None
        with urllib.request.urlopen(sources[0], timeout=10) as response:
            image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        return None if previous is not None and np.array_equal(image, previous) else [image]

    return wait_for(driver, fetch, "the output image")[0]


def as_8bit(image: np.ndarray) -> np.ndarray:
    return np.round(image * 255).astype(np.uint8)


def check_errors_on_page(driver, tmp_path: Path) -> None:
    """A text file named .png: the reader's message on the page, no stack trace."""
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    upload(driver, "upload", bad)
    message = translate(driver)
    assert message == "Error: cannot read image notes.png: not a valid or complete image file"  # no server folder
    assert "Traceback" not in driver.find_element("tag name", "body").text


def test_pix2pix_page_translates_an_upload_of_any_size(browser, tmp_path):
    demo = sorted((ensure_demo("shapes", "paired") / "test").glob("*.png"))[0]
    photo = cv2.imread(str(demo))[:45, 64:121]  # B half, cropped to 45 x 57: not a multiple of the U-Net's 32
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    with served(tiny_model("Pix2Pix", tmp_path)) as base:
        open_page(browser, base)
        check_errors_on_page(browser, tmp_path)
        upload(browser, "upload", tmp_path / "photo.png")
        assert translate(browser) == "Translated 57x45 px."
        output = shown_output(browser)
        assert output.shape == (45, 57, 3)
        assert np.abs(output.astype(int) - as_8bit(read_image(tmp_path / "photo.png")).astype(int)).mean() > 5
        browser.save_screenshot(str(tmp_path / "pix2pix.png"))
        assert_all_local(requested_urls(browser), base)


def test_stargan_page_translates_a_gray_upload_to_the_chosen_domain(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    demo = sorted(ensure_demo("tints", "multi_domain").rglob("*.png"))[0]
    gray = cv2.cvtColor(cv2.imread(str(demo)), cv2.COLOR_BGR2GRAY)[:30, :50]  # gray: repeated to RGB as predict does
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    outputs = {}
    with served(tiny_model("StarGAN", tmp_path)) as base:
        open_page(browser, base)
        check_errors_on_page(browser, tmp_path)
        upload(browser, "upload", tmp_path / "gray.png")
        for domain in ("blue", "red"):
            field = browser.find_element("css selector", "#target input")
            field.click()
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(domain, Keys.ENTER)
            wait_for(browser, lambda: field.get_attribute("value") == domain, f"target {domain}")
            assert translate(browser) == f"Translated 50x30 px (target {domain})."
            outputs[domain] = shown_output(browser, outputs.get("blue"))
        browser.save_screenshot(str(tmp_path / "stargan.png"))
        assert_all_local(requested_urls(browser), base)
    assert outputs["blue"].shape == (30, 50, 3)
    assert np.abs(outputs["blue"].astype(int) - gray[:, :, None].astype(int)).mean() > 5
    assert not np.array_equal(outputs["blue"], outputs["red"])  # the chosen domain reached the model


def test_serve_refuses_a_method_it_cannot_show(tmp_path):
    torch.manual_seed(0)
    checkpoint = save_checkpoint(METHODS["BigGAN"].build(), tmp_path / "biggan.ckpt")
    with pytest.raises(ValueError, match="cannot show a BigGAN model: it serves Pix2Pix, .*i2i-zoo predict"):
        run(["serve", "--ckpt_path", str(checkpoint)])


def test_serve_without_gradio_names_the_extra(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    with pytest.raises(ImportError, match=r"pip install 'i2i-zoo\[app\]'"):
        run(["serve", "--ckpt_path", str(save_checkpoint(METHODS["Pix2Pix"].build(), tmp_path / "p.ckpt"))])


def test_concurrent_requests_get_their_own_translations(tmp_path):
    """Users translating at once each get the translation of their own image and choice."""
    from concurrent.futures import ThreadPoolExecutor

    translator = Translator(tiny_model("StarGAN", tmp_path))
    rng = np.random.default_rng(0)
    requests = []
    for k, domain in enumerate(["red", "green", "blue", "yellow"] * 2):
        path = tmp_path / f"{k}.png"
        cv2.imwrite(str(path), rng.integers(0, 256, (20 + 4 * k, 24, 3), dtype=np.uint8))
        requests.append((str(path), None, domain))
    alone = [translator(*request)[1] for request in requests]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda request: translator(*request)[1], requests))
    for one, other in zip(alone, together):
        np.testing.assert_array_equal(one, other)


def test_the_core_install_does_not_import_gradio():
    import subprocess
    import sys

    code = "import sys, i2i_zoo.cli, i2i_zoo.serve; assert 'gradio' not in sys.modules, 'gradio imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", [name for name in METHODS if name not in ("BigGAN", "DeepI2I", "BiLGAN")])
def test_every_served_method_translates_an_upload_of_any_size(name, tmp_path):
    """What the page offers each method reaches its translate; the others are refused above."""
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8))
    translator = Translator(tiny_model(name, tmp_path))
    options = translator.options
    target = ([options.domains[0]] if options.attributes else options.domains[0]) if options.domains else None
    scale = getattr(translator.model.hparams, "scale", 1) if name == "SPLSuperResolution" else 1
    for direction in options.directions or (None,):
        conditions = [0.5] * len(options.conditions)
        reference = str(path) if options.reference else None
        torch.manual_seed(1)  # pix2pix's train-mode dropout
        image, output = translator(str(path), direction, target, conditions, reference)
        assert output.shape == (37 * scale, 45 * scale, 3)
        if not (options.reference or options.samples):  # the method's own translate, padded and cropped back
            arguments = {"direction": direction} if direction else {"target": target} if target else {}
            arguments = {"target": dict(zip(options.conditions, conditions))} if options.conditions else arguments
            torch.manual_seed(1)
            with torch.no_grad():
                expected = translate_any_size(lambda x: translator.model.translate(x, **arguments), to_tensor(image)[None],
                                              translator.model.size_multiple)[0]  # fmt: skip
            np.testing.assert_allclose(output, ((expected + 1) / 2).clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-6)
        if options.samples and direction == "YtoX":  # k samples side by side, the same for the same seed
            samples = translator(str(path), direction, n_samples=3, seed=7)[1]
            assert samples.shape == (37, 3 * 45, 3)
            np.testing.assert_array_equal(samples, translator(str(path), direction, n_samples=3, seed=7)[1])
