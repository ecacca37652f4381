from __future__ import annotations

import os

# On a shared CPU, OpenMP threads that spin-wait while other processes hold the cores make small
# tensor operations many times slower; waiting passively costs nothing when the machine is quiet.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path

import pytest
import torch

# The official-model parity fixture ships with the tests (tests/fixtures, see its README);
# INFINITYGAN_FIXTURES points the tests at another copy.
FIXTURES = Path(
    os.environ.get("INFINITYGAN_FIXTURES", Path(__file__).resolve().parent / "fixtures")
)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "paper101_parity.npz").is_file():
        pytest.fail(f"parity fixture not found under {FIXTURES}; set INFINITYGAN_FIXTURES")
    return FIXTURES


# The devices a device-parameterised test runs on: the CPU always, CUDA (marked `gpu`) when
# this PyTorch sees a GPU. `pytest -m gpu` runs only the CUDA variants.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(
    params=[pytest.param(d, marks=[pytest.mark.gpu] if d == "cuda" else []) for d in DEVICES]
)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(scope="session")
def tiny_generator():
    from infinitygan import build_generator

    G = build_generator("tiny", seed=0)
    # Non-zero noise strengths so that noise placement is actually tested.
    with torch.no_grad():
        for i, conv in enumerate(G.texture_synthesizer.convs):
            conv.noise.strength.fill_(0.3 + 0.05 * i)
    return G


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        no_gpu = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if item.get_closest_marker("gpu") is not None:
                item.add_marker(no_gpu)
    if os.environ.get("RUN_SLOW") == "1":
        for item in items:
            item.own_markers = [m for m in item.own_markers if m.name != "slow"]


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("single_thread")``):
    tiny-model tensors gain nothing from threads, and on a shared CPU they only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
