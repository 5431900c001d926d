"""A local HTTP server for weights files, and weights saved from randomly initialised S3FD
and FAN modules: what the tests fetch instead of the real files (tests never go online)."""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from faceforge.io.download import sha256_of
from faceforge.nn.fan import FANNet
from faceforge.nn.s3fd import S3FDNet
from faceforge.plugins import weights


class WeightsServer(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[dict[str, str]]
    cut_after: int | None  # bytes to send before dropping the next response


class _Handler(http.server.BaseHTTPRequestHandler):
    server: WeightsServer

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # the name http.server calls
        self.server.requests.append({"path": self.path, "range": self.headers.get("Range", "")})
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match:
            start = int(match[1])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.server.cut_after is not None:
            body, self.server.cut_after = body[:self.server.cut_after], None
        self.wfile.write(body)


@contextmanager
def serve() -> Iterator[WeightsServer]:
    """A threaded HTTP server on 127.0.0.1 (range requests supported) for the block."""
    httpd = WeightsServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.cut_after = {}, [], None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def url_of(server: WeightsServer, name: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{name}"


def faceswap_fan_key(key: str) -> str:
    """Our FAN parameter name as Faceswap's module spells it (the inverse of fan_key)."""
    key = re.sub(r"^(m\d+\.b(?:1|2|3|2_plus)_\d+)\.", r"\1_0.", key)
    return re.sub(r"^top_m_(\d+)\.", r"top_m0_\1.", key)


def only_the_coarsest_head_fires(net: S3FDNet) -> None:
    """Random S3FD weights score faces at random across tens of thousands of anchors, which
    would drown a test in boxes; here every score head says "no face" (0.5) except the
    coarsest (stride 128, 512 px anchors), which says "face" (0.98) everywhere: a handful of
    boxes per frame after suppression, so the landmarker runs too."""
    with torch.no_grad():
        for name, module in net.named_modules():
            if name.endswith("_mbox_conf"):
                module.weight.zero_()
                module.bias.zero_()
        net.conv7_2_mbox_conf.bias.copy_(torch.tensor([0.0, 4.0]))


def save_random_weights(folder: Path, s3fd_tweak: Callable[[S3FDNet], None] | None
                        = only_the_coarsest_head_fires) -> dict[str, Path]:
    """Randomly initialised S3FD and FAN saved as the published files are: a plain table of
    tensors in face-alignment's names, and FAN also in Faceswap's."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    s3fd, fan = S3FDNet(), FANNet()
    if s3fd_tweak is not None:
        s3fd_tweak(s3fd)
    files = {"s3fd": folder / "s3fd.pth", "fan": folder / "fan.pth.tar",
             "fan-faceswap": folder / "fan_faceswap.pth"}
    torch.save(s3fd.state_dict(), files["s3fd"])
    torch.save(fan.state_dict(), files["fan"])
    torch.save({faceswap_fan_key(k): v for k, v in fan.state_dict().items()},
               files["fan-faceswap"])
    return files


def serve_weights(server: WeightsServer, files: dict[str, Path], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """Point the weights catalogue at `server` serving `files` (with their own sums), give
    faceforge a fresh empty cache, and allow the network (127.0.0.1 only here)."""
    entries = {}
    for model, file_key, fetched_name, faceswap_name in (
            ("s3fd", "s3fd", "s3fd-619a316812.pth", "s3fd_torch_v3.pth"),
            ("fan", "fan", "2DFAN4-11f355bf06.pth.tar", "face-alignment-network_2d4_v4.pth")):
        data = files[file_key].read_bytes()
        server.files[f"/{fetched_name}"] = data
        entries[model] = {"title": model.upper(), "files": [
            {"name": fetched_name, "layout": "face-alignment",
             "url": url_of(server, fetched_name), "sha256": sha256_of(files[file_key]),
             "size": len(data)},
            {"name": faceswap_name, "layout": "faceswap", "url": "https://example.invalid/x.zip",
             "sha256": None, "note": "unzip it"}]}
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"version": 1, "models": entries}))
    monkeypatch.setattr(weights, "CATALOGUE_FILE", path)
    monkeypatch.setenv("FACEFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEFORGE_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("FACEFORGE_OFFLINE", raising=False)
    return entries
