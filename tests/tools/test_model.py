"""`tools model ...` on the session's briefly trained model: info, nan-scan, restore, and an
export whose outputs match PyTorch on real faces."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from faceforge.formats.model_state import read_state
from faceforge.tools import model as tool
from tests.tools.helpers import run_cli

pytestmark = pytest.mark.slow


def test_info_reports_trainer_iterations_sessions_and_checkpoints(tiny_model, capsys):
    assert run_cli("tools", "model", "info", "-m", tiny_model) == 0
    out = capsys.readouterr().out
    state = read_state(tiny_model)
    assert "trainer: quick" in out and f"iterations: {state.iterations}" in out
    assert "session 1:" in out and "EGs/s" in out
    backup = read_state(tiny_model / "backups")
    assert f"backup: iteration {backup.iterations}" in out
    assert f"best loss: {backup.loss['average']:.5f} at iteration {backup.iterations}" in out
    result = tool.info(tool.InfoConfig(model_dir=tiny_model))
    weights = load_file(str(tiny_model / state.files["weights"]))
    assert result.weights_values == sum(t.numel() for t in weights.values())


def test_nan_scan_finds_the_tensor_that_went_bad(tiny_model, tmp_path):
    clean = tool.nan_scan(tool.NanScanConfig(model_dir=tiny_model))
    assert clean.bad == [] and clean.files_scanned >= 2 and clean.tensors_scanned > 10
    model = tmp_path / "model"  # the state and its weights: enough to scan, quick to copy
    model.mkdir()
    state = read_state(tiny_model)
    shutil.copy2(tiny_model / "state.json", model / "state.json")
    path = model / state.files["weights"]
    shutil.copy2(tiny_model / state.files["weights"], path)
    weights = load_file(str(path))
    name = sorted(k for k, v in weights.items() if v.is_floating_point() and v.numel() > 4)[0]
    weights[name].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), float("nan")])
    save_file(weights, str(path), metadata={"trainer": state.trainer})
    found = tool.nan_scan(tool.NanScanConfig(model_dir=model))
    assert found.bad == [{"file": state.files["weights"], "tensor": name, "nan": 2, "inf": 1}]


def test_restore_brings_back_the_backup_and_keeps_the_replaced_save(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    state = read_state(model)
    replaced = load_file(str(model / state.files["weights"]))
    # A later save that went wrong: the main weights are now garbage.
    broken = {k: torch.zeros_like(v) for k, v in replaced.items()}
    save_file(broken, str(model / state.files["weights"]), metadata={"trainer": state.trainer})
    backup = read_state(model / "backups")
    assert run_cli("tools", "model", "restore", "-m", model) == 0
    now = read_state(model)
    assert now.iterations == backup.iterations
    restored = load_file(str(model / now.files["weights"]))
    expected = load_file(str(model / "backups" / backup.files["weights"]))
    assert all(torch.equal(restored[k], expected[k]) for k in expected)
    kept = next((model / "snapshots").glob("before-restore-*"))
    kept_weights = load_file(str(kept / read_state(kept).files["weights"]))
    assert all(torch.equal(kept_weights[k], broken[k]) for k in broken)
    with pytest.raises(Exception, match="no 123 to restore"):
        tool.restore(tool.RestoreConfig(model_dir=model, restore_from="123"))


def test_onnx_export_matches_pytorch_on_real_faces(tiny_model, faces, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = tmp_path / "swap.onnx"
    result = tool.export(tool.ExportConfig(model_dir=tiny_model, output=out,
                                           faces=faces["a"]))
    assert out.stat().st_size > 100_000 and result.checked_faces == 16
    assert result.max_abs_error is not None and result.max_abs_error < 1e-4
    described = json.loads((tmp_path / "swap.onnx.json").read_text())
    assert described["crop"]["centering"] == read_state(tiny_model).train_config["centering"]
    assert described["check"]["max_abs_error"] == result.max_abs_error

    # Independently of the tool: onnxruntime on a batch of another size agrees with PyTorch.
    import onnxruntime

    from faceforge.training.checkpoint import load_trained_model

    model, state = load_trained_model(tiny_model)
    crops = tool.model_crops(faces["b"], state, model.input_size, limit=5)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (onnx_faces,) = session.run(None, {"faces": crops})
    with torch.no_grad():
        torch_faces = model.eval()(torch.from_numpy(crops), "b").numpy()
    assert onnx_faces.shape == (5, 3, model.output_size, model.output_size)
    assert np.abs(onnx_faces - torch_faces).max() < 1e-4


def test_torchscript_export_matches_pytorch(tiny_model, faces, tmp_path):
    out = tmp_path / "swap.pt"
    assert run_cli("tools", "model", "export", "-m", tiny_model, "-o", out, "--format",
                   "torchscript", "--side", "a", "-fc", faces["b"]) == 0
    result = json.loads((tmp_path / "swap.pt.json").read_text())
    assert result["side"] == "a" and result["check"]["max_abs_error"] < 1e-5


def test_a_model_that_learns_masks_exports_face_and_mask(tmp_path):
    pytest.importorskip("onnxruntime")
    from faceforge.formats.model_state import ModelState
    from faceforge.plugins.model import build_model
    from faceforge.training.checkpoint import save_checkpoint

    model = build_model("quick", {"learn_mask": True})
    state = ModelState(trainer="quick", model_config=model.config.to_dict(),
                       train_config={"centering": "face", "coverage": 87.5}, iterations=1)
    save_checkpoint(tmp_path / "model", state, model.contiguous_state_dict(), None, {})
    result = tool.export(tool.ExportConfig(model_dir=tmp_path / "model",
                                           output=tmp_path / "masked.onnx"))
    assert result.outputs == ["face", "mask"]
    assert result.max_abs_error is not None and result.max_abs_error < 1e-4
    described = json.loads((tmp_path / "masked.onnx.json").read_text())
    assert described["outputs"]["mask"] == [None, 1, 64, 64]
