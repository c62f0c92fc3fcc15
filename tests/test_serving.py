"""The HTTP server of helpers.torch.serving, started as `python -m helpers.torch.serving` in a subprocess."""

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data
from helpers.torch.resnet import load_cifar_resnet
from helpers.torch.serving import Predictor, decode_image


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _post(url, body, content_type="image/png"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server_url():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "helpers.torch.serving", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving on http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_decode_png_and_raw_agree_and_reject_bad_input():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(_png(image)), image)
    assert np.array_equal(decode_image(image.tobytes(), "application/octet-stream"), image)
    with pytest.raises(ValueError, match="3072 bytes"):
        decode_image(b"abc", "application/octet-stream")
    with pytest.raises(ValueError, match="could not decode"):
        decode_image(b"not a png")
    with pytest.raises(ValueError, match="32x32 RGB"):
        decode_image(_png(np.zeros((16, 16, 3), dtype=np.uint8)))


def test_server_answers_equal_eager_predictions_on_real_images(server_url):
    try:
        test = data.load_cifar10("test", download=False)
    except data.DataUnavailableError:
        pytest.skip("set CNN_BOOK_DATA to the offline data folder")
    model, _ = load_cifar_resnet(pixel_input=True)
    pick = np.random.default_rng(0).choice(len(test.y), 20, replace=False)
    x = torch.from_numpy(test.x[pick]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1).numpy()
    seconds = []
    for i, k in enumerate(pick):
        start = time.perf_counter()
        answer = _post(server_url, _png(test.x[k]))
        seconds.append(time.perf_counter() - start)
        assert answer["class"] == int(probs[i].argmax())
        assert answer["label"] == test.classes[answer["class"]]
        np.testing.assert_allclose(answer["probabilities"], probs[i], atol=1e-4)
    raw = _post(server_url, test.x[pick[0]].tobytes(), "application/octet-stream")
    assert raw["class"] == int(probs[0].argmax())
    median = float(np.median(seconds))
    print(f"median round trip {1000 * median:.1f} ms over {len(seconds)} requests")
    assert median < 1.0  # generous: one 32x32 image through ResNet-20 on one CPU thread takes a few ms


def test_server_rejects_bad_requests(server_url):
    with pytest.raises(urllib.error.HTTPError) as error:
        _post(server_url, b"xyz", "application/octet-stream")
    assert error.value.code == 400 and "3072 bytes" in json.loads(error.value.read())["error"]
    with urllib.request.urlopen(server_url.replace("/predict", "/health"), timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok"}


def test_predictor_checks_its_input():
    model, _ = load_cifar_resnet(pixel_input=True)
    with pytest.raises(ValueError, match=r"\(32, 32, 3\) uint8"):
        Predictor(model)(np.zeros((32, 32), dtype=np.uint8))
