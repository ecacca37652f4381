"""Where and in which arithmetic the networks run: precisions, devices, model placement.

Precisions (``--precision``):

* ``fp32``: strict IEEE float32 everywhere. On CUDA this switches cuBLAS matmuls and cuDNN
  convolutions off TensorFloat-32 (PyTorch enables TF32 for cuDNN convolutions by default, which
  moves pixels by 1e-3 to 1e-2 and breaks the 1e-4 region-containment contract between devices,
  tile sizes and batchings). The reference for every other precision.
* ``tf32``: float32 tensors, TF32 tensor-core matmuls and convolutions on CUDA (Ampere and later);
  the same as ``fp32`` on the CPU. Faster, but regions no longer agree to 1e-4.
* ``bf16``, ``fp16``: autocast to bfloat16 / float16; the float32 settings are left as the user
  set them for the operations autocast keeps in float32.

The float32 settings are process-wide flags; :func:`precision_context` sets them with PyTorch's
``fp32_precision`` API (never the legacy ``allow_tf32`` flags, whose reads raise once the new API
was used) and restores exactly what it found. Threads that render concurrently in the same mode
share one setting; a thread asking for a different mode waits until the others are done (a
different mode nested inside a render switches the flags for the whole process while it runs).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from collections.abc import Iterator

import torch
from torch import nn

PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
FP32_MATH = {"fp32": "ieee", "tf32": "tf32"}  # fp32_precision of matmul and conv


def check_precision(precision: str) -> str:
    """Return ``precision`` or raise a ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def activation_bytes(precision: str) -> int:
    """Bytes per activation value in ``precision`` (for the memory planners)."""
    return PRECISIONS[check_precision(precision)].itemsize


class _BackendFlags:
    """Reference-counted, thread-safe setting of the float32 math mode and cuDNN autotuning."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._key: tuple[str | None, bool | None] | None = None
        self._users = 0
        self._saved: tuple[str, str, bool] | None = None
        self._local = threading.local()

    @staticmethod
    def _read() -> tuple[str, str, bool]:
        return (
            torch.backends.cuda.matmul.fp32_precision,
            torch.backends.cudnn.conv.fp32_precision,
            torch.backends.cudnn.benchmark,
        )

    @staticmethod
    def _write(math: str | None, benchmark: bool | None, saved=None) -> None:
        if saved is not None:
            math_matmul, math_conv, benchmark = saved
        else:
            math_matmul = math_conv = math
        if math_matmul is not None:
            torch.backends.cuda.matmul.fp32_precision = math_matmul
        if math_conv is not None:
            torch.backends.cudnn.conv.fp32_precision = math_conv
        if benchmark is not None:
            torch.backends.cudnn.benchmark = benchmark

    @contextlib.contextmanager
    def use(self, math: str | None, benchmark: bool | None) -> Iterator[None]:
        key = (math, benchmark)
        stack = self._local.__dict__.setdefault("stack", [])
        if stack:  # nested in this thread: switch and switch back, no waiting
            outer = self._read()
            self._write(math, benchmark)
            stack.append(key)
            try:
                yield
            finally:
                stack.pop()
                self._write(None, None, outer)
            return
        with self._cond:
            while self._users and self._key != key:
                self._cond.wait()
            if not self._users:
                self._saved = self._read()
                self._write(math, benchmark)
                self._key = key
            self._users += 1
        stack.append(key)
        try:
            yield
        finally:
            stack.pop()
            with self._cond:
                self._users -= 1
                if not self._users:
                    self._write(None, None, self._saved)
                    self._key = self._saved = None
                    self._cond.notify_all()


_FLAGS = _BackendFlags()


@contextlib.contextmanager
def math_mode(
    device: torch.device, math: str | None, *, benchmark: bool | None = None
) -> Iterator[None]:
    """Float32 math (``"ieee"``, ``"tf32"`` or None: leave as is) and cuDNN autotuning (None:
    leave as is) for CUDA work inside the block; nothing is touched for other devices."""
    if device.type != "cuda" or (math is None and benchmark is None):
        yield
        return
    with _FLAGS.use(math, benchmark):
        yield


@contextlib.contextmanager
def precision_context(
    device: torch.device, precision: str, *, benchmark: bool | None = None
) -> Iterator[None]:
    """Run the block in ``precision`` on ``device`` (see the module docstring).

    Args:
        device: where the networks run.
        precision: "fp32", "tf32", "bf16" or "fp16".
        benchmark: set ``torch.backends.cudnn.benchmark`` on CUDA for the block (use where shapes
            repeat); None leaves it.
    """
    check_precision(precision)
    with math_mode(device, FP32_MATH.get(precision), benchmark=benchmark):
        if precision in AUTOCAST_DTYPES:
            with torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision]):
                yield
        else:
            yield


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (bf16 autocast can then be faster than
    float32): CUDA GPUs that support it, CPUs with AVX512-BF16 or AMX-BF16. Elsewhere bf16 is
    emulated and slower (e.g. AMD EPYC without AVX-512)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def strict_fp32(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Strict IEEE float32 on CUDA inside the block (reference features, metrics)."""
    return math_mode(device, "ieee")


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (CPU for a module without parameters)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def resolve_device(requested: str | torch.device | None, current: torch.device) -> torch.device:
    """The device to compute on for a model that lives on ``current``.

    None means ``current``; ``"cuda"`` without an index means the model's own GPU when it is on
    one (a model on ``cuda:1`` stays on ``cuda:1``), else the current CUDA device.

    Raises:
        ValueError: CUDA asked for but not available, or an index beyond the visible GPUs.
    """
    if requested is None:
        return current
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{requested!r} is not a device; use cpu, cuda or cuda:N") from err
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {requested} was asked for but PyTorch sees no CUDA device; use cpu"
        )
    if device.index is None:
        index = current.index if current.type == "cuda" else torch.cuda.current_device()
        device = torch.device("cuda", index)
    if device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device} was asked for but only {torch.cuda.device_count()} GPU(s) are visible"
        )
    return device


_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(module: nn.Module) -> tuple[int, ...]:
    """Changes whenever a parameter or buffer is replaced or modified in place."""
    return tuple(v for t in (*module.parameters(), *module.buffers()) for v in (id(t), t._version))


def model_on(module: nn.Module, device: torch.device):
    """``module`` itself when it lives on ``device``, else a copy there (cached per device and
    refreshed when the original's weights change). The caller's model is never moved."""
    if module_device(module) == device:
        return module
    per_device = _COPIES.setdefault(module, {})
    signature = _signature(module)
    cached = per_device.get(device)
    if cached is not None and cached[0] == signature:
        return cached[1]
    with torch.no_grad():
        copied = copy.deepcopy(module).to(device)
    per_device.clear()  # one device copy per model at a time
    per_device[device] = (signature, copied)
    return copied


def to_host(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` on the CPU; from CUDA through pinned memory (one asynchronous copy, then one
    wait), so the result of a whole chunk comes back at once instead of tile by tile."""
    if tensor.device.type == "cpu":
        return tensor
    if tensor.device.type != "cuda":
        return tensor.cpu()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    torch.cuda.current_stream(tensor.device).synchronize()
    return host
