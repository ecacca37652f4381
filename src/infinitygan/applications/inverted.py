"""Position-aware inverted latents: the file written by inversion and read by placements.

An :class:`InvertedLatents` holds everything the generator needs to redraw an inverted image, each
piece tagged with the canvas cells or layer-grid points it covers:

* ``z_global`` [z_dim]: the global latent of the structure synthesizer;
* ``styles`` [num_styles, w_dim]: the per-layer texture styles (W+);
* ``local`` [local_dim, R, C]: local latents of structure cells ``local_origin + (0..R, 0..C)``
  (the image's structure window plus the synthesizer's margin);
* ``noise[i]`` [h_i, w_i]: noise of texture conv ``i`` at its grid points
  ``noise_origins[i] + (0..h_i, 0..w_i)`` (grid convention of :mod:`infinitygan.spatial`);
* ``image`` uint8 [3, h, w]: the target image, and ``top``, ``left``: the canvas pixel of its first
  pixel when it was inverted.

Because everything is in canvas coordinates, the latents can be placed on canvases of any size
without inverting again; moving them by a multiple of the cell size keeps every grid aligned (see
:class:`infinitygan.applications.description.Placement`).

File format: safetensors, tensors ``z_global``, ``styles``, ``local``, ``noise.{i}``, ``image``;
the JSON metadata field ``infinitygan`` holds the origins, footprint, model config and fit
statistics.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

import torch
from torch import Tensor

from infinitygan._files import atomic_write

LATENTS_FORMAT = "infinitygan-inverted-latents"
LATENTS_VERSION = 1


@dataclass(frozen=True, eq=False)
class InvertedLatents:
    """Inverted latents with their canvas positions (see the module docstring)."""

    z_global: Tensor
    styles: Tensor
    local: Tensor
    local_origin: tuple[int, int]
    noise: tuple[Tensor, ...]
    noise_origins: tuple[tuple[int, int], ...]
    image: Tensor
    top: int
    left: int
    model_config: str = ""
    model_sha256: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.dtype != torch.uint8 or self.image.ndim != 3 or self.image.shape[0] != 3:
            raise ValueError("InvertedLatents.image must be uint8 [3, h, w]")
        if len(self.noise) != len(self.noise_origins):
            raise ValueError("InvertedLatents needs one origin per noise map")
        if self.local.ndim != 3 or self.styles.ndim != 2 or self.z_global.ndim != 1:
            raise ValueError("InvertedLatents: local [D, R, C], styles [S, W], z_global [Z]")

    @property
    def height(self) -> int:
        return int(self.image.shape[1])

    @property
    def width(self) -> int:
        return int(self.image.shape[2])

    @property
    def image_sha256(self) -> str:
        """SHA-256 of the inverted image's pixels (see :func:`image_digest`)."""
        return image_digest(self.image.permute(1, 2, 0).contiguous().numpy())

    def check_model(self, G: Any) -> None:
        """Raise ValueError if these latents do not fit generator ``G``'s architecture."""
        cfg = G.config
        problems = []
        if self.z_global.shape[0] != cfg.mapping.z_dim:
            problems.append(f"z_dim {self.z_global.shape[0]} vs {cfg.mapping.z_dim}")
        if tuple(self.styles.shape) != (G.num_styles, cfg.mapping.w_dim):
            problems.append(
                f"styles {tuple(self.styles.shape)} vs {(G.num_styles, cfg.mapping.w_dim)}"
            )
        if self.local.shape[0] != cfg.structure.local_dim:
            problems.append(f"local_dim {self.local.shape[0]} vs {cfg.structure.local_dim}")
        if len(self.noise) != G.num_convs:
            problems.append(f"{len(self.noise)} noise maps vs {G.num_convs} texture convs")
        if problems:
            raise ValueError(
                "these inverted latents were made with a different model architecture ("
                + "; ".join(problems)
                + "); invert the image again with this model"
            )

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a safetensors file atomically; returns the path."""
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {
            "z_global": self.z_global.detach().float().cpu().contiguous(),
            "styles": self.styles.detach().float().cpu().contiguous(),
            "local": self.local.detach().float().cpu().contiguous(),
            "image": self.image.cpu().contiguous(),
        }
        for i, n in enumerate(self.noise):
            tensors[f"noise.{i}"] = n.detach().float().cpu().contiguous()
        meta = {
            "format": LATENTS_FORMAT,
            "version": LATENTS_VERSION,
            "local_origin": list(self.local_origin),
            "noise_origins": [list(o) for o in self.noise_origins],
            "top": self.top,
            "left": self.left,
            "height": self.height,
            "width": self.width,
            "model_config": self.model_config,
            "model_sha256": self.model_sha256,
            "image_sha256": self.image_sha256,
            "stats": self.stats,
        }
        return atomic_write(
            path, lambda tmp: save_file(tensors, tmp, metadata={"infinitygan": json.dumps(meta)})
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> InvertedLatents:
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not an inverted-latents file, or from a newer version.
        """
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no inverted-latents file at {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                raw = (f.metadata() or {}).get("infinitygan")
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except Exception as err:  # safetensors raises several error types
            raise ValueError(f"{path} is not a readable safetensors file ({err})") from None
        try:
            meta = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            meta = {}
        if meta.get("format") != LATENTS_FORMAT:
            raise ValueError(
                f"{path} is not an inverted-latents file (write one with `infinitygan invert`)"
            )
        if int(meta.get("version", 0)) > LATENTS_VERSION:
            raise ValueError(
                f"{path} uses inverted-latents format {meta['version']}, newer than this "
                f"infinitygan supports ({LATENTS_VERSION}); upgrade infinitygan"
            )
        count = len(meta["noise_origins"])
        return cls(
            z_global=tensors["z_global"],
            styles=tensors["styles"],
            local=tensors["local"],
            local_origin=tuple(meta["local_origin"]),
            noise=tuple(tensors[f"noise.{i}"] for i in range(count)),
            noise_origins=tuple(tuple(o) for o in meta["noise_origins"]),
            image=tensors["image"],
            top=int(meta["top"]),
            left=int(meta["left"]),
            model_config=meta.get("model_config", ""),
            model_sha256=meta.get("model_sha256", ""),
            stats=meta.get("stats", {}),
        )


def image_digest(pixels: Any) -> str:
    """SHA-256 of an RGB uint8 image [H, W, 3] (its size and pixels, not its file encoding),
    so the same picture read from a PNG or a re-saved copy has the same digest."""
    import numpy as np

    array = np.ascontiguousarray(pixels, dtype=np.uint8)
    digest = hashlib.sha256(f"{array.shape[0]}x{array.shape[1]}x{array.shape[2]}:".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_CACHE: OrderedDict[tuple[str, int, int, str], InvertedLatents] = OrderedDict()
_CACHE_LOCK = Lock()
_CACHE_SIZE = 32


def load_latents_cached(path: str | os.PathLike[str], sha256: str = "") -> InvertedLatents:
    """Load (and memoise) an inverted-latents file, checking its SHA-256 when given.

    The cache key includes the file's size and modification time, so a rewritten file is read
    again. Raises ValueError when the hash does not match (the file changed since the description
    referring to it was made).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no inverted-latents file at {path} (a placement of the canvas description refers "
            "to it; keep the latents file next to the description or fix the path)"
        )
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, sha256)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    if sha256 and file_sha256(path) != sha256:
        raise ValueError(
            f"{path} has changed since the canvas description was made (SHA-256 mismatch); "
            "place the latents again"
        )
    latents = InvertedLatents.load(path)
    with _CACHE_LOCK:
        _CACHE[key] = latents
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return latents
