"""The one unknown-key check of the JSON the package reads (configs, descriptions, web requests)."""

from __future__ import annotations

import json

import pytest

from infinitygan.applications import Anchor, CanvasDescription
from infinitygan.config import ModelConfig, check_keys
from infinitygan.train.config import RunConfig
from infinitygan.web.description import DescriptionError, description_from_json


def _with(data: dict, path: tuple[str, ...], key: str = "colour") -> dict:
    inner = data
    for name in path:
        inner = inner[name]
    inner[key] = 1
    return data


READERS = {
    "model config": (
        lambda: ModelConfig().to_dict(),
        (),
        ModelConfig.from_dict,
        "ModelConfig",
    ),
    "model config part": (
        lambda: ModelConfig().to_dict(),
        ("texture",),
        ModelConfig.from_dict,
        "ModelConfig.texture",
    ),
    "run config": (lambda: json.loads(RunConfig().to_json()), (), RunConfig.from_dict, "RunConfig"),
    "run config train": (
        lambda: json.loads(RunConfig().to_json()),
        ("train",),
        RunConfig.from_dict,
        "RunConfig.train",
    ),
    "canvas description": (
        lambda: json.loads(CanvasDescription(seed=1, anchors=(Anchor(0, 0, 1),)).to_json()),
        (),
        CanvasDescription.from_dict,
        "canvas description",
    ),
    "web description": (
        lambda: {"anchors": [], "edits": []},
        (),
        lambda obj: description_from_json(1, obj),
        "description",
    ),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_refuses_an_unknown_key_by_name(name):
    make, path, read, where = READERS[name]
    read(make())  # the data as written is accepted
    with pytest.raises(ValueError) as err:
        read(_with(make(), path))
    message = str(err.value)
    assert message.startswith(f"{where}: unknown keys ['colour']"), message
    assert "known keys: [" in message and "\n" not in message
    if name == "web description":
        assert isinstance(err.value, DescriptionError)  # a 400 answer, not a server error


def test_check_keys_takes_a_dataclass_or_names_and_refuses_a_non_object():
    assert check_keys({"a": 1}, ["a", "b"], "x") == {"a": 1}
    with pytest.raises(ValueError, match=r"^x: unknown keys \['c'\].*known keys: \['a', 'b'\]$"):
        check_keys({"a": 1, "c": 2}, ["a", "b"], "x")
    with pytest.raises(DescriptionError, match="x must be a JSON object, got list"):
        check_keys([1], ["a"], "x", error=DescriptionError)
    with pytest.raises(ValueError, match="unknown keys"):
        check_keys({"seed": 1, "nope": 2}, Anchor, "anchor")
