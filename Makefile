# Two commands for a fresh machine:
#   make demo   installs everything and generates a large image from the bundled model
#   make test   installs everything and runs the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test test-slow lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The CPU build of PyTorch goes in first, so that the bare `torch` requirement
# does not pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev,web,fid,projected]"
	touch $@

install: $(VENV)/.installed

# The bundled trained model when the package ships one, else an untrained tiny model.
DEMO_MODEL ?= $(shell $(BIN)/python -c "from infinitygan.checkpoint import BUNDLED_DIR as d; print('landscapes' if (d / 'landscapes.safetensors').is_file() else 'random:tiny')" 2>/dev/null || echo random:tiny)

demo: install
	$(BIN)/infinitygan generate $(DEMO_MODEL) --size 4096x1024 --seed 1 --out out/panorama.png --force
	$(BIN)/infinitygan generate $(DEMO_MODEL) --size 2224x512 --seed 2 --wrap --out out/panorama-360.jpg --force
	@echo "Images are in out/ (panorama.png, panorama-360.jpg), each with a .json sidecar."

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
