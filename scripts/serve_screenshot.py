"""Refresh docs/images/serve.png, the README's picture of `i2i-zoo serve`: the page of a StarGAN
checkpoint (by default a tiny untrained one) after translating a demo image, taken by headless
chromium as the tests drive it.

    python scripts/serve_screenshot.py [--ckpt_path CKPT] [--target blue] [--output docs/images/serve.png]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from i2i_zoo.convert import save_checkpoint
from i2i_zoo.data.demo import ensure_demo
from i2i_zoo.export import load_method
from i2i_zoo.methods import METHODS
from i2i_zoo.serve import Translator, build_app, launch

ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition, what: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt_path", help="a StarGAN checkpoint (default: a tiny untrained one)")
    parser.add_argument("--target", default="blue", help="the target domain chosen on the page")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/images/serve.png")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.common.keys import Keys

    with tempfile.TemporaryDirectory() as work:
        if args.ckpt_path is None:
            torch.manual_seed(0)
            args.ckpt_path = save_checkpoint(METHODS["StarGAN"].build(), Path(work) / "stargan.ckpt")
        model = load_method(args.ckpt_path)
        # A demo photo of another tint, at the size the model was trained at.
        demo = sorted((ensure_demo("tints", "multi_domain") / "train" / "red").glob("*.png"))[0]
        side = model.hparams.image_size
        cv2.imwrite(str(Path(work) / "photo.png"), cv2.resize(cv2.imread(str(demo)), (side, side), interpolation=cv2.INTER_AREA))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = build_app(Translator(model), f"StarGAN ({Path(args.ckpt_path).name})", work)
        launch(app, "127.0.0.1", port, work, block=False)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1000", "--hide-scrollbars"):
            options.add_argument(argument)
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
        try:
            driver.get(f"http://127.0.0.1:{port}")
            wait_for(lambda: driver.find_elements("id", "translate"), "the page")
            driver.find_element("css selector", "#upload input[type=file]").send_keys(str(Path(work) / "photo.png"))
            wait_for(lambda: "photo" in driver.find_element("id", "upload").text, "the upload")
            field = driver.find_element("css selector", "#target input")
            field.click()
            field.send_keys(args.target, Keys.ENTER)
            driver.find_element("id", "translate").click()
            wait_for(lambda: "Translated" in driver.find_element("id", "status").text, "the translation")
            time.sleep(1)  # the images fade in
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
            app.close()
    # Scaled to 3/4: the README's images stay under 200 KB.
    screenshot = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), cv2.resize(screenshot, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])  # fmt: skip
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
