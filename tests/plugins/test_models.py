"""Contract tests walked over every registered trainer: size, forward, backward, save/reload.

Default models are big (up to 130 M parameters), so each is built once per module and the
heaviest passes run at batch 1 to keep the file fast on a 2-core CPU.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from faceforge.errors import UsageError
from faceforge.plugins.model import MODELS, FaceSwapModel, ModelOutput, build_model

# Keras' count for the whole model (encoder + both decoders) at Faceswap's default options.
FACESWAP_PARAMETERS = {
    "original": 82_062_470,
    "lightweight": 51_100_000,
    "iae": 117_800_000,
    "dfaker": 113_300_000,
    "dfl-h128": 107_700_000,
    "dfl-sae": 130_000_000,
}
EXACT = {"original"}
# Our own CPU preset has no Faceswap twin; pin it so width changes are deliberate.
OWN_PARAMETERS = {"quick": 20_526_662}
# Models drawing faces larger than this run their gradient pass at batch 1: the 128 px
# decoders cost several seconds per image on a 2-core CPU.
SMALL_OUTPUT_SIZE = 64


@pytest.fixture(scope="module", params=MODELS.names())
def default_model(request: pytest.FixtureRequest) -> Iterator[FaceSwapModel]:
    torch.manual_seed(0)
    model = build_model(request.param)
    yield model
    del model


def _faces(model: FaceSwapModel, batch: int) -> torch.Tensor:
    return torch.rand(batch, 3, model.input_size, model.input_size)


def _face(output: ModelOutput) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def test_registry_holds_faceswap_trainers_and_quick() -> None:
    assert set(MODELS.names()) == set(FACESWAP_PARAMETERS) | set(OWN_PARAMETERS)


def test_unknown_trainer_names_the_valid_ones() -> None:
    with pytest.raises(UsageError) as caught:
        build_model("villain")
    assert "original" in caught.value.one_line()


def test_parameter_count_matches_faceswap_at_defaults(default_model: FaceSwapModel) -> None:
    name = default_model.name
    count = default_model.parameter_count()
    target = FACESWAP_PARAMETERS.get(name) or OWN_PARAMETERS[name]
    print(f"{name}: {count:,d} parameters (target {target:,d}, {count / target - 1:+.3%})")
    if name in EXACT or name in OWN_PARAMETERS:
        assert count == target
    else:
        assert abs(count - target) / target < 0.01


def test_both_sides_give_unit_range_faces_and_finite_gradients(
    default_model: FaceSwapModel,
) -> None:
    # One pass serves the shape, range and gradient checks: big models are slow on 2 cores.
    big = default_model.output_size > SMALL_OUTPUT_SIZE
    faces = _faces(default_model, batch=1 if big else 2)
    size = default_model.output_size
    target = torch.rand(faces.shape[0], 3, size, size)
    default_model.train()
    loss = torch.zeros(())
    for side in ("a", "b"):
        face = default_model(faces, side)
        assert isinstance(face, torch.Tensor), "no learned mask at defaults"
        assert face.shape == (faces.shape[0], 3, size, size)
        assert face.dtype == torch.float32
        assert 0.0 <= face.min().item() and face.max().item() <= 1.0
        loss = loss + torch.nn.functional.mse_loss(face, target)
    loss.backward()
    grads = [p.grad for p in default_model.parameters()]
    try:
        assert all(g is not None for g in grads), "every weight should take part in some side"
        assert all(torch.isfinite(g).all() for g in grads if g is not None)
        assert any(g.abs().sum() > 0 for g in grads if g is not None)
    finally:
        default_model.zero_grad(set_to_none=True)


def test_weights_and_config_reload_to_identical_outputs(
    default_model: FaceSwapModel, tmp_path: Path
) -> None:
    weights = tmp_path / "model.safetensors"
    config_file = tmp_path / "config.json"
    save_file(default_model.contiguous_state_dict(), str(weights))
    config_file.write_text(
        json.dumps({"name": default_model.name, "config": default_model.config.to_dict()})
    )

    saved = json.loads(config_file.read_text())
    torch.manual_seed(1)  # a different initialisation, so equality proves the load
    rebuilt = build_model(saved["name"], saved["config"])
    rebuilt.load_state_dict(load_file(str(weights)), strict=True)
    weights.unlink()  # half a gigabyte for the big models: do not leave it in pytest's tmp

    assert rebuilt.config == default_model.config
    original_state = default_model.state_dict()
    assert all(torch.equal(original_state[k], v) for k, v in rebuilt.state_dict().items())
    faces = _faces(default_model, batch=1)
    default_model.eval()
    rebuilt.eval()
    # Equal weights already prove the load; one pass through B's decoder, as conversion runs
    # (A's faces through B's decoder, no gradients), proves the rebuilt graph is the same.
    with torch.no_grad():
        assert torch.equal(default_model(faces, "b"), rebuilt(faces, "b"))


@pytest.mark.parametrize("name", MODELS.names())
def test_config_round_trips_through_json(name: str) -> None:
    config_class = MODELS.get(name).config_class
    config = config_class(learn_mask=True, learning_rate=1e-4)
    restored = config_class.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert json.loads(json.dumps(config.to_dict()))["learn_mask"] is True


def test_quick_preset_records_its_cpu_learning_rate() -> None:
    assert MODELS.get("quick").config_class().learning_rate == pytest.approx(2e-4)
    assert MODELS.get("original").config_class().learning_rate == pytest.approx(5e-5)


# Small widths keep the mask and variant checks cheap; the structure is what is tested.
SMALL_VARIANTS = [
    ("quick", {"learn_mask": True}),
    (
        "original",
        {
            "learn_mask": True,
            "lowmem": True,
            "encoder_filters": [8, 16, 32, 64],
            "encoder_dim": 32,
            "dense_filters": 32,
            "encoder_upscale_filters": 16,
            "decoder_filters": [16, 8, 8],
        },
    ),
    (
        "dfl-h128",
        {
            "learn_mask": True,
            "lowmem": True,
            "encoder_filters": [8, 16, 32, 64],
            "encoder_dim": 32,
            "dense_filters": 32,
            "encoder_upscale_filters": 32,
            "decoder_filters": [32, 16, 8],
        },
    ),
    (
        "iae",
        {
            "learn_mask": True,
            "encoder_filters": [8, 16, 32, 64],
            "encoder_dim": 32,
            "decoder_filters": [32, 16, 8, 8],
        },
    ),
    (
        "dfl-sae",
        {
            "learn_mask": True,
            "input_size": 64,
            "encoder_dims": 4,
            "decoder_dims": 4,
            "autoencoder_dims": 32,
        },
    ),
    (
        "dfl-sae",
        {
            "learn_mask": True,
            "input_size": 64,
            "architecture": "liae",
            "encoder_dims": 4,
            "decoder_dims": 4,
            "autoencoder_dims": 32,
        },
    ),
]


@pytest.mark.parametrize(("name", "options"), SMALL_VARIANTS)
def test_learned_mask_comes_with_each_face(name: str, options: dict) -> None:
    model = build_model(name, options)
    faces = _faces(model, batch=2)
    for side in ("a", "b"):
        output = model(faces, side)
        assert isinstance(output, tuple)
        face, mask = output
        size = model.output_size
        assert face.shape == (2, 3, size, size) and mask.shape == (2, 1, size, size)
        assert 0.0 <= mask.min().item() and mask.max().item() <= 1.0
        sum(t.mean() for t in output).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("architecture", ["df", "liae"])
def test_dfl_sae_multiscale_gives_quarter_half_and_full_faces(architecture: str) -> None:
    options = dict(SMALL_VARIANTS[-1][1], architecture=architecture, multiscale_decoder=True)
    model = build_model("dfl-sae", options)
    faces = _faces(model, batch=1)
    outputs = model.forward_multiscale(faces, "b")
    assert [f.shape[-1] for f in outputs] == [16, 32, 64]
    # The full-size multiscale face is the plain forward's face.
    assert torch.equal(outputs[-1], _face(model(faces, "b")))


def test_liae_uses_shared_code_for_a_and_own_code_for_b() -> None:
    model = build_model("dfl-sae", dict(SMALL_VARIANTS[-1][1], learn_mask=False))
    assert not hasattr(model, "inter_a")
    faces = _faces(model, batch=1)
    model.eval()
    with torch.no_grad():
        assert not torch.equal(model(faces, "a"), model(faces, "b"))


def test_bf16_autocast_and_channels_last_keep_float32_faces() -> None:
    model = build_model("quick").to(memory_format=torch.channels_last)
    faces = _faces(model, batch=2).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        face = model(faces, "a")
    assert face.dtype == torch.float32 and face.shape == (2, 3, 64, 64)
    assert math.isfinite(face.sum().item())
    reference = model(faces.contiguous(), "a")
    assert (face - reference).abs().max().item() < 0.05  # bf16 drift, not a different network


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("original", {"no_such_option": 1}),
        ("original", {"input_size": 60}),
        ("dfaker", {"output_size": 192}),
        ("dfl-sae", {"architecture": "vae"}),
        ("quick", {"learning_rate": 0.0}),
    ],
)
def test_bad_options_are_usage_errors(name: str, options: dict) -> None:
    with pytest.raises(UsageError):
        build_model(name, options)


def test_each_declared_trainer_is_the_class_its_module_registers() -> None:
    import importlib
    import inspect

    from faceforge.plugins.registry import Registry

    for name in MODELS.names():
        module, _, attribute = MODELS.where(name).partition(":")
        declared = getattr(importlib.import_module(module), attribute)
        assert MODELS.get(name) is declared and declared.name == name
        # the summary read from the source (unimported) is the class's own first line
        unimported = Registry("trainer", known={name: MODELS.where(name)})
        first = inspect.getdoc(declared).split("\n", 1)[0].strip().rstrip(".")
        assert unimported.summary(name) == first
