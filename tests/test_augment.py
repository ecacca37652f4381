"""DiffAugment of the discriminator's inputs: policies, content shifts, labels, determinism."""

from __future__ import annotations

import pytest
import torch

from infinitygan.data.pipeline import (
    DataConfig,
    label_per_px,
    vertical_label,
    zoomed_vertical_label,
)
from infinitygan.presets import get_preset
from infinitygan.train import RunConfig, TrainConfig, Trainer
from infinitygan.train.augment import augment, parse_policy


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_policy_parsing_and_errors() -> None:
    assert parse_policy("") == () and parse_policy("none") == ()
    assert parse_policy("cutout, color") == ("color", "cutout")  # applied in a fixed order
    with pytest.raises(ValueError, match="unknown augmentation 'flip'.*color, translation, cutout"):
        parse_policy("color,flip")
    with pytest.raises(ValueError, match="twice"):
        parse_policy("color,color")
    assert TrainConfig(augment="translation, color").augment == "color,translation"
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainConfig(augment="rotate")


def test_translation_moves_content_by_the_reported_shift_and_fills_zeros() -> None:
    x = torch.rand(16, 3, 24, 20) + 1.0  # no zeros in the input
    y, dy = augment(x, ("translation",), _gen(1))
    assert dy.dtype == torch.int64 and int(dy.abs().max()) <= 3 and bool((dy != 0).any())
    for i in range(16):
        d = int(dy[i])
        rows = range(max(d, 0), 24 + min(d, 0))
        inside = y[i, :, rows.start : rows.stop]
        # each row is the input row d above it, shifted horizontally by some dx
        matches = [
            torch.equal(
                inside[:, :, max(dx, 0) : 20 + min(dx, 0)],
                x[i, :, rows.start - d : rows.stop - d, max(-dx, 0) : 20 - max(dx, 0)],
            )
            for dx in range(-3, 4)
        ]
        assert sum(matches) == 1, i
        assert int((y[i] == 0).sum()) == 3 * (
            24 * 20 - len(rows) * (20 - abs([dx for dx, m in zip(range(-3, 4), matches) if m][0]))
        )


def test_cutout_zeroes_one_square_and_color_stays_differentiable() -> None:
    x = torch.rand(32, 3, 16, 16) + 1.0
    y, dy = augment(x, ("cutout",), _gen(2))
    assert torch.equal(dy, torch.zeros(32, dtype=torch.int64))
    zeros = (y == 0).all(dim=1)  # [N, H, W]
    for i in range(32):
        rows, cols = zeros[i].any(1).nonzero(), zeros[i].any(0).nonzero()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8  # half the side, may stick out
        box = zeros[i, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert bool(box.all()) and int(zeros[i].sum()) == box.numel()
        assert torch.equal(y[i][:, ~zeros[i]], x[i][:, ~zeros[i]])
    assert int(zeros.sum(dim=(1, 2)).max()) == 64  # some square lies fully inside
    x.requires_grad_(True)
    out, _ = augment(x, ("color", "translation", "cutout"), _gen(3))
    out.square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_same_generator_same_augmentation() -> None:
    x = torch.randn(4, 3, 12, 12)
    a, da = augment(x, ("color", "translation", "cutout"), _gen(7))
    b, db = augment(x, ("color", "translation", "cutout"), _gen(7))
    c, _ = augment(x, ("color", "translation", "cutout"), _gen(8))
    assert torch.equal(a, b) and torch.equal(da, db) and not torch.equal(a, c)


def test_real_labels_follow_the_shifted_content() -> None:
    """A real patch cut at row y and shifted down by dy shows the crop at row y - dy: its label
    becomes that crop's label."""
    model = get_preset("landscapes-cpu")
    trainer = Trainer(
        RunConfig(model=model, train=TrainConfig(batch=4, augment="translation")),
        torch.device("cpu"),
    )
    data = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    p, full = model.patch_size, torch.rand(3, model.full_size, model.full_size) + 1.0
    ys = [10, 20, 30, 40]
    patches = torch.stack([full[:, y : y + p, 5 : 5 + p] for y in ys])
    labels = torch.tensor([vertical_label(y, data) for y in ys])
    out, moved = trainer._augment(patches, labels, trainer.real_label_per_px, _gen(4))
    _, dy = augment(patches, ("translation",), _gen(4))
    for i, y in enumerate(ys):
        d = int(dy[i])
        expected = vertical_label(y - d, data)
        assert float(moved[i]) == pytest.approx(expected, abs=1e-6)
        rows = range(max(d, 0), p + min(d, 0))
        # the visible rows are rows y - d + r of the full image (at some horizontal shift dx)
        matches = 0
        for dx in range(-7, 8):
            cols = range(max(dx, 0), p + min(dx, 0))
            seen = out[i, :, rows.start : rows.stop, cols.start : cols.stop]
            source = full[
                :,
                y - d + rows.start : y - d + rows.stop,
                5 + cols.start - dx : 5 + cols.stop - dx,
            ]
            matches += torch.equal(seen, source)
        assert matches == 1, (i, d)
    # fakes: one structure cell (8 px here) of shift moves the label by one vertical position
    assert trainer.fake_label_per_px * trainer.G.geometry.scale == pytest.approx(2 / 9)


def test_zoomed_real_labels_move_by_their_own_slope() -> None:
    """A zoom-z view's label changes z times slower per pixel: a shifted zoomed patch gets the
    label of the zoomed crop at row y - dy (``zoomed_vertical_label``), not of a plain crop. The
    slopes come with the batch (``PatchBatch.label_slopes``) and ``real_rounds`` carries them."""
    model = get_preset("landscapes-cpu")
    trainer = Trainer(
        RunConfig(model=model, train=TrainConfig(batch=4, augment="translation")),
        torch.device("cpu"),
    )
    data = DataConfig(model.patch_size, model.full_size, model.pre_resize)
    scales, tops, ys = [1.0, 0.5, 2 / 3, 0.5], [0.0, 0.2, 0.1, 0.25], [10, 20, 30, 40]
    labels = torch.tensor(
        [zoomed_vertical_label(y, data, top=t, scale=s) for y, t, s in zip(ys, tops, scales)]
    )
    slopes = torch.tensor([label_per_px(data, scale=s) for s in scales])
    patches = torch.rand(4, 3, model.patch_size, model.patch_size)
    (chunk,) = trainer.real_rounds((patches, labels, slopes))
    _, moved = trainer._augment(chunk[0], chunk[1], chunk[2], _gen(4))
    _, dy = augment(patches, ("translation",), _gen(4))
    assert bool((dy != 0).any())
    for i, (y, t, s) in enumerate(zip(ys, tops, scales)):
        d = int(dy[i])
        if 0 <= y - d <= data.max_offset:
            expected = zoomed_vertical_label(y - d, data, top=t, scale=s)
        else:  # past the edge: the same straight line
            expected = labels[i].item() - d * slopes[i].item()
        assert float(moved[i]) == pytest.approx(expected, abs=1e-6)
    (plain,) = trainer.real_rounds((patches, labels))  # no slopes: the plain 2 / (F - P)
    assert torch.equal(plain[2], torch.full((4,), trainer.real_label_per_px))


def test_augmented_training_step_is_deterministic_and_changes_the_result() -> None:
    model = get_preset("tiny")

    def one_step(augment_policy: str) -> torch.Tensor:
        run = RunConfig(model=model, train=TrainConfig(batch=4, augment=augment_policy))
        trainer = Trainer(run, torch.device("cpu"))
        gen = _gen(0)
        patches = torch.rand(4, 3, model.patch_size, model.patch_size, generator=gen) * 2 - 1
        labels = torch.rand(4, generator=gen) * 2 - 1
        stats = trainer.train_step((patches, labels))  # step 0: D, R1, G and path length
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
        return torch.cat([q.detach().flatten() for q in trainer.D.parameters()])

    a, b = one_step("color,translation,cutout"), one_step("color,translation,cutout")
    assert torch.equal(a, b)
    assert not torch.equal(a, one_step(""))
