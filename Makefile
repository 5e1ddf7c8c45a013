# Two commands for a fresh machine (see README):
#   make demo   set up .venv and run the main job on the embedded tiny offline model
#   make test   set up .venv and run the whole test suite
# and one for CI (.ci/run runs it after make test):
#   make test-min  a smoke subset on the lowest versions pyproject.toml declares
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch pair CI tests with, from PyPI (on Linux that is the CUDA build; it runs on the CPU too).
# Override (e.g. TORCH_SPEC=) to keep a torch build you installed yourself.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.stylehunt-installed
OUT ?= outputs/demo

# The lowest versions pyproject.toml declares for the libraries whose APIs stylehunt follows closely.
MIN_SPEC := diffusers==0.37.0 transformers==5.0.0 huggingface_hub==1.4.0 accelerate==0.34.0
MIN_VENV ?= .venv-min
# The smoke subset: every tiny family built and guided, the CLI, the Hub client against the local server.
MIN_TESTS ?= tests/test_tiny.py tests/test_cli_engine.py tests/test_hub.py

.PHONY: setup demo test test-min clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(strip $(TORCH_SPEC)),$(BIN)/python -m pip install --quiet $(TORCH_SPEC))
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(OUT)
	$(BIN)/stylehunt search --model tiny-sd3 --style warm --objective warmth --prompts default \
		--num-prompts 3 --num-heldout 3 --rounds 2 --per-round 1 --steps 4 --resolution 64 --out $(OUT)/run
	$(BIN)/stylehunt generate --model tiny-sd3 --preset $(OUT)/run/stylehunt_preset.json \
		--prompt "a lighthouse at dusk" --steps 4 --height 64 --width 64 --baseline --out $(OUT)/lighthouse.png

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# A venv that sees .venv's packages (torch above all: no second download) through a .pth file, with
# the declared minimums installed in its own site-packages, which come first on sys.path.
test-min: $(STAMP)
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(BIN)/python -c "import sys; print('\n'.join(p for p in sys.path if p.endswith('-packages')))" \
		> "$$($(MIN_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_stylehunt_venv.pth"
	$(MIN_VENV)/bin/python -m pip install --quiet $(MIN_SPEC)
	$(MIN_VENV)/bin/python -c "import diffusers, transformers, huggingface_hub, accelerate as a; \
		print('minimums:', diffusers.__version__, transformers.__version__, huggingface_hub.__version__, a.__version__)"
	$(MIN_VENV)/bin/python -m pytest -p no:cacheprovider -n 2 --dist loadfile -q $(MIN_TESTS)

clean:
	rm -rf $(VENV) $(MIN_VENV) $(OUT)
