# Two commands for a fresh machine (see README):
#   make demo   set up .venv and run the main job on the embedded tiny offline model
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The local CPU torch pair; override (e.g. TORCH_SPEC=) to keep a GPU build you installed yourself.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.stylehunt-installed
OUT ?= outputs/demo

.PHONY: setup demo test clean

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

clean:
	rm -rf $(VENV) $(OUT)
