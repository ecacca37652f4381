"""Size arithmetic of the padding-free networks, computed in one place.

Everything here follows from the layer types, never from tables keyed by resolution:

* structure layer (unpadded k x k conv): ``out = in - (k - 1)``
* texture upsampling conv (stride-2 transposed 3x3, crop 1 px, unpadded 3x3 blur):
  ``out = 2*in - 3``
* texture plain conv (unpadded 3x3): ``out = in - 2``

Canvas convention. The canvas is indexed in output pixels ``(y, x)``, any integers. Structure
latent cell ``s`` (a row or column index, any integer) is centred on canvas pixel ``scale * s``
where ``scale = 2 ** num_pairs`` (16 for the paper model). A structure window starting at cell
``s0`` therefore renders canvas pixels starting at ``scale * s0 + pixel_offset`` (30 for the paper
model). Texture layer ``i`` indexes its own grid: the feature of a window starting at ``s0`` at
index ``j`` has global index ``layer_scale(i) * s0 + j``; per-layer noise lives on those grids.
The local latent and the coordinates live on the structure cell grid, ``margin`` cells wider on
each side than the structure they produce.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infinitygan.config import ModelConfig


@dataclass(frozen=True)
class Window:
    """Everything needed to render canvas rows ``[start, start + size)`` along one axis.

    Attributes:
        cell_start: first structure cell of the window (s0).
        cells: number of structure cells (S).
        crop: index of canvas pixel ``start`` inside the texture output.
        start: first canvas pixel wanted.
        size: number of canvas pixels wanted.
    """

    cell_start: int
    cells: int
    crop: int
    start: int
    size: int


class Geometry:
    """Size arithmetic for one model config."""

    def __init__(self, config: ModelConfig) -> None:
        self.padded = config.texture.padding == "zero"
        self.structure_layers = config.structure.num_layers
        self.structure_kernel = config.structure.kernel_size
        self.num_pairs = len(config.texture.channels)
        self.scale = 2**self.num_pairs
        self.margin = self.structure_layers * (self.structure_kernel - 1) // 2
        # Composition of the "centre of input index j" maps: up j -> 2j - 1, plain j -> j - 1.
        centre = 0
        for _ in range(self.num_pairs):
            centre = 2 * centre - 1
            centre = centre - 1
        self.pixel_offset = -centre  # output index of cell 0's centre is -pixel_offset
        self.num_convs = 2 * self.num_pairs
        # Smallest structure size whose every texture layer is non-empty (5 for 4 pairs).
        self.min_cells = next(c for c in range(1, 64) if min(self._conv_sizes(c)) >= 1)
        self.num_styles = self.num_convs + 1

    # ------------------------------------------------------------------ structure synthesizer
    def structure_out(self, local_size: int) -> int:
        """Structure-latent size produced from a local latent of ``local_size`` cells."""
        out = local_size - 2 * self.margin
        if out <= 0:
            raise ValueError(
                f"a local latent of {local_size} cells is too small: the structure synthesizer "
                f"removes {2 * self.margin} cells; give at least {2 * self.margin + 1}"
            )
        return out

    def structure_in(self, structure_size: int) -> int:
        """Local-latent size needed for ``structure_size`` structure cells."""
        return structure_size + 2 * self.margin

    # ------------------------------------------------------------------ texture synthesizer
    def texture_conv_sizes(self, structure_size: int) -> list[int]:
        """Output size of every texture conv for a structure input of ``structure_size``."""
        sizes = self._conv_sizes(structure_size)
        if min(sizes) < 1:
            raise ValueError(
                f"a structure of {structure_size} cells is too small for the texture synthesizer; "
                f"give at least {self.min_cells} cells"
            )
        return sizes

    def _conv_sizes(self, structure_size: int) -> list[int]:
        if self.padded:  # zero-padded StyleGAN2: x2 per pair
            sizes = []
            for i in range(self.num_pairs):
                sizes += [structure_size * 2 ** (i + 1)] * 2
            return sizes
        sizes = []
        size = structure_size
        for _ in range(self.num_pairs):
            size = 2 * size - 3
            sizes.append(size)
            size = size - 2
            sizes.append(size)
        return sizes

    def texture_out(self, structure_size: int) -> int:
        """Image size produced from ``structure_size`` structure cells (16*S - 75 for paper-101)."""
        return self.texture_conv_sizes(structure_size)[-1]

    def texture_in(self, out_size: int) -> int:
        """Smallest structure size whose output is at least ``out_size`` pixels."""
        if out_size <= 0:
            raise ValueError(f"output size must be positive, got {out_size}")
        if self.padded:
            return max(math.ceil(out_size / self.scale), 1)
        size = out_size
        for _ in range(self.num_pairs):
            size = size + 2  # undo plain conv
            size = math.ceil((size + 3) / 2)  # undo upsampling conv
        return max(size, self.min_cells)

    def structure_size_for_output(self, out_size: int, exact: bool = False) -> int:
        """Structure size for an output of ``out_size``; with ``exact`` the sizes must match."""
        cells = self.texture_in(out_size)
        if exact and self.texture_out(cells) != out_size:
            valid = [self.texture_out(c) for c in range(max(3, cells - 2), cells + 3)]
            raise ValueError(
                f"{out_size} px is not an output size of this texture synthesizer "
                f"(sizes are {self.scale}*S - {self.scale * 5 - 5}); nearby valid sizes: {valid}"
            )
        return cells

    def layer_scale(self, conv_index: int) -> int:
        """Pixels of texture conv ``conv_index``'s grid per structure cell."""
        return 2 ** (conv_index // 2 + 1)

    def rgb_sizes(self, structure_size: int) -> list[int]:
        """Sizes of the RGB skip images (one per pair)."""
        return self.texture_conv_sizes(structure_size)[1::2]

    # ------------------------------------------------------------------ canvas windows
    def window(self, start: int, size: int) -> Window:
        """The structure window whose output covers canvas pixels ``[start, start + size)``."""
        if size <= 0:
            raise ValueError(f"region size must be positive, got {size}")
        if self.padded:
            raise ValueError(
                "this model uses zero padding (the StyleGAN2-NCI baseline), so canvas regions "
                "cannot be rendered independently; generate whole images with "
                "infinitygan.baselines.generate_enlarged"
            )
        cell_start = math.floor((start - self.pixel_offset) / self.scale)
        cells = self.texture_in(size + (start - self.scale * cell_start - self.pixel_offset))
        crop = start - self.scale * cell_start - self.pixel_offset
        return Window(cell_start=cell_start, cells=cells, crop=crop, start=start, size=size)

    def output_start(self, cell_start: int) -> int:
        """Canvas pixel of the first output pixel of a window starting at ``cell_start``."""
        return self.scale * cell_start + self.pixel_offset


# ---------------------------------------------------------------------- canvas positions
MAX_CANVAS_POSITION = 2**52
"""Largest |row| or |column| of a canvas pixel that a command accepts (about 4.5e15). Window
arithmetic divides positions in floating point, which stays exact below 2**53."""

_BARE_POSITION_RE = re.compile(r"\s*(-?\d+)\s*,\s*(-?\d+)\s*")
_NAMED_POSITION_RE = re.compile(r"\s*([xyXY])\s*=\s*(-?\d+)\s*,\s*([xyXY])\s*=\s*(-?\d+)\s*")


def parse_position(text: str) -> tuple[int, int]:
    """Parse a canvas position into ``(y, x)``.

    Two forms are accepted: ``x=X,y=Y`` (either order, explicit) and the bare ``Y,X`` (row
    first, unlike the WxH of sizes). Both coordinates must lie within
    ``±MAX_CANVAS_POSITION``.

    Raises:
        ValueError: naming the problem and the accepted forms.
    """
    named = _NAMED_POSITION_RE.fullmatch(text)
    if named is not None:
        keys = (named.group(1).lower(), named.group(3).lower())
        if set(keys) != {"x", "y"}:
            raise ValueError(f"{text!r} names {keys[0]} twice; write x=X,y=Y, e.g. x=4096,y=-128")
        values = {keys[0]: int(named.group(2)), keys[1]: int(named.group(4))}
        y, x = values["y"], values["x"]
    else:
        bare = _BARE_POSITION_RE.fullmatch(text)
        if bare is None:
            raise ValueError(
                f"{text!r} is not a position; write x=X,y=Y (e.g. x=4096,y=-128) or the bare "
                "Y,X (row first, e.g. -128,4096)"
            )
        y, x = int(bare.group(1)), int(bare.group(2))
    for name, value in (("y", y), ("x", x)):
        if abs(value) > MAX_CANVAS_POSITION:
            raise ValueError(
                f"{name}={value} in {text!r} is off the canvas; positions must lie within "
                f"±{MAX_CANVAS_POSITION} px"
            )
    return y, x


def same_padded_size(size: int, stride: int) -> int:
    """Output side of a TensorFlow "SAME"-padded layer chain of total ``stride`` (a power of 2):
    every stride-2 layer gives ``ceil(in / 2)``, so the chain gives ``ceil(size / stride)``."""
    return -(-size // stride)
