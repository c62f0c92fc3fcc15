"""A minimal HTTP inference server for the book's CIFAR-10 ResNet, on the standard library's ``http.server``.

Start it with one command (from a checkout with the library installed)::

    python -m helpers.torch.serving --port 8000

``POST /predict`` with a 32x32 RGB image, either as a PNG file (``Content-Type: image/png``) or as its
3,072 raw uint8 bytes in height-width-channel order (``application/octet-stream``), answers JSON
``{"class": 3, "label": "cat", "probabilities": [...10 floats...], "milliseconds": 1.9}``.
``GET /health`` answers ``{"status": "ok"}``. Bad input gets status 400 and ``{"error": message}``.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch

__all__ = ["CIFAR10_CLASSES", "decode_image", "Predictor", "make_server", "main"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MAX_BODY = 1 << 20


def decode_image(body: bytes, content_type: str = "image/png") -> np.ndarray:
    """A ``(32, 32, 3)`` uint8 array from a PNG file or from 3,072 raw bytes (``application/octet-stream``)."""
    if content_type.startswith("application/octet-stream"):
        if len(body) != 32 * 32 * 3:
            raise ValueError(f"raw input must be 3072 bytes (32x32x3 uint8), got {len(body)}")
        return np.frombuffer(body, dtype=np.uint8).reshape(32, 32, 3)
    from PIL import Image

    try:
        image = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    except Exception as error:  # PIL raises several types for bad files
        raise ValueError(f"could not decode the body as an image: {error}") from None
    if image.shape != (32, 32, 3):
        raise ValueError(f"image must be 32x32 RGB, got shape {image.shape}")
    return image


class Predictor:
    """Wraps a model taking float pixels in [0, 1] of shape ``(N, 3, 32, 32)``; thread-safe ``__call__``."""

    def __init__(self, model: torch.nn.Module, classes=CIFAR10_CLASSES):
        self.model, self.classes, self.lock = model.eval(), tuple(classes), threading.Lock()

    def __call__(self, image: np.ndarray) -> dict:
        """Class index, label and softmax probabilities of one ``(32, 32, 3)`` uint8 image."""
        image = np.asarray(image)
        if image.shape != (32, 32, 3) or image.dtype != np.uint8:
            raise ValueError(f"image must be a (32, 32, 3) uint8 array, got {image.shape} {image.dtype}")
        x = torch.from_numpy(image.copy()).permute(2, 0, 1).unsqueeze(0).float().div(255)
        with self.lock, torch.inference_mode():
            probs = torch.softmax(self.model(x).float(), dim=1)[0]
        k = int(probs.argmax())
        return {"class": k, "label": self.classes[k], "probabilities": [round(float(p), 6) for p in probs]}


def make_server(predictor: Predictor, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving: call ``serve_forever()``) answering ``/predict`` with ``predictor``."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": "use POST /predict or GET /health"})

        def do_POST(self):
            if self.path != "/predict":
                self._send(404, {"error": "use POST /predict"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._send(400, {"error": f"body must be 1 to {MAX_BODY} bytes, got {length}"})
                return
            body = self.rfile.read(length)
            start = time.perf_counter()
            try:
                result = predictor(decode_image(body, self.headers.get("Content-Type", "image/png")))
            except ValueError as error:
                self._send(400, {"error": str(error)})
                return
            result["milliseconds"] = round(1000 * (time.perf_counter() - start), 3)
            self._send(200, result)

        def log_message(self, *args):  # keep the console quiet
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv=None) -> None:
    """Command line: load a CIFAR-10 ResNet checkpoint and serve it until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the book's CIFAR-10 ResNet over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--checkpoint", default="resnet20_cifar10", help="name in book/lessons/checkpoints")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    from helpers.torch.resnet import load_cifar_resnet

    torch.set_num_threads(args.threads)
    model, _ = load_cifar_resnet(args.checkpoint, pixel_input=True)
    server = make_server(Predictor(model), args.host, args.port)
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port}/predict", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
