"""Tiny random-weight pipelines of every supported family (`TINY_FAMILIES`), built offline in code.

They run the real diffusers code paths (pipeline classes, processors, ``save_pretrained`` /
``from_pretrained``) without a GPU or the Hub: for tests, the demo and benchmarks, never to judge image
quality (the weights are random, deterministic per seed). Each family's builder is its own module (its
docstring gives the shape), from the shared parts in `components`; this ``__init__`` keeps the names, the
cache (`tiny_pipeline_path`: ``$STYLEHUNT_CACHE/tiny/<family>-v1``, written atomically) and the build /
save / load entry points, and imports no torch, diffusers or transformers until a pipeline is built.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import StorageError, UnsupportedModelError

if TYPE_CHECKING:  # heavy imports only when building
    from diffusers import DiffusionPipeline

__all__ = [
    "TINY_FAMILIES",
    "UnknownTinyFamilyError",
    "build_tiny_pipeline",
    "save_tiny_pipeline",
    "tiny_pipeline_path",
    "load_tiny_pipeline",
    "resolve_tiny_model",
    "TINY_MODEL_NAMES",
    "TINY_MODEL_LIST",
    "cache_root",
]

logger = logging.getLogger(__name__)

#: The tiny model families, in the order they are documented.
TINY_FAMILIES = ("sd3", "sd3.5", "flux", "chroma", "zimage", "qwenimage", "flux2", "flux2-dev", "wan", "sdxl", "sd15",
                 "hunyuanvideo15", "ernieimage", "ltx", "ltx2", "qwenimage21")

#: Bump when any builder's config (`components`, `sd3`, `flux`, ...) changes, so stale
#: cached models are not reused.
_CACHE_VERSION = "v1"

#: Model names accepted by `resolve_tiny_model`, e.g. ``"tiny-sd3.5"``.
_NAME_PREFIX = "tiny-"


class UnknownTinyFamilyError(UnsupportedModelError, ValueError):
    """An unknown tiny family name: an ``UnsupportedModelError`` that is also a ``ValueError``.

    ``family`` is the value given, ``available`` is `TINY_FAMILIES`.
    """

    def __init__(self, message: str, *, family: Any, available: tuple[str, ...] = TINY_FAMILIES):
        super().__init__(message, hint=f"tiny model names are {', '.join(_NAME_PREFIX + f for f in available)}")
        self.family = family
        self.available = tuple(available)


def _check_family(family: Any) -> str:
    if family not in TINY_FAMILIES:
        raise UnknownTinyFamilyError(
            f"Unknown tiny model family {family!r}; expected one of {', '.join(map(repr, TINY_FAMILIES))}.",
            family=family,
        )
    from ..engine.families import adapter_named, check_diffusers_version

    if (adapter := adapter_named(family)) is not None:  # before a builder imports a class diffusers lacks
        check_diffusers_version(adapter)
    return family


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def build_tiny_pipeline(family: str = "sd3", seed: int = 0) -> DiffusionPipeline:
    """Build a tiny random-weight pipeline in memory (float32, CPU).

    The same ``family`` and ``seed`` always give bit-identical weights. The caller's global torch
    RNG state is left as it was.

    Raises:
        UnknownTinyFamilyError: ``family`` is not one of `TINY_FAMILIES` (also a
            ``ValueError`` and an ``UnsupportedModelError``).
    """
    _check_family(family)
    import torch

    from . import chroma, ernieimage, flux, flux2, hunyuanvideo15, ltx, ltx2, qwenimage, qwenimage21, sd3, unet, wan, zimage

    builders = {
        "sd3": lambda: sd3.build_sd3_pipeline(seed, sd35=False),
        "sd3.5": lambda: sd3.build_sd3_pipeline(seed, sd35=True),
        "flux": lambda: flux.build_flux_pipeline(seed),
        "chroma": lambda: chroma.build_chroma_pipeline(seed),
        "zimage": lambda: zimage.build_zimage_pipeline(seed),
        "qwenimage": lambda: qwenimage.build_qwenimage_pipeline(seed),
        "flux2": lambda: flux2.build_flux2_pipeline(seed),
        "flux2-dev": lambda: flux2.build_flux2_dev_pipeline(seed),
        "wan": lambda: wan.build_wan_pipeline(seed),
        "sdxl": lambda: unet.build_sdxl_pipeline(seed),
        "sd15": lambda: unet.build_sd15_pipeline(seed),
        "hunyuanvideo15": lambda: hunyuanvideo15.build_hunyuanvideo15_pipeline(seed),
        "ernieimage": lambda: ernieimage.build_ernieimage_pipeline(seed),
        "ltx": lambda: ltx.build_ltx_pipeline(seed),
        "ltx2": lambda: ltx2.build_ltx2_pipeline(seed),
        "qwenimage21": lambda: qwenimage21.build_qwenimage21_pipeline(seed),
    }
    with torch.random.fork_rng(devices=[]):
        pipe = builders[family]()
    # Inference mode, as from_pretrained leaves models: constructors build in train mode, whose
    # dropout would make two identical calls differ.
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    logger.debug("Built tiny %s pipeline (seed %d)", family, seed)
    return pipe


def save_tiny_pipeline(path: str | os.PathLike[str], family: str = "sd3", seed: int = 0) -> Path:
    """Build a tiny pipeline and ``save_pretrained`` it into the folder ``path``; return the folder."""
    _check_family(family)
    path = Path(path)
    build_tiny_pipeline(family, seed).save_pretrained(path, safe_serialization=True)
    logger.debug("Saved tiny %s pipeline (seed %d) to %s", family, seed, path)
    return path


def cache_root() -> Path:
    """stylehunt's cache folder: ``$STYLEHUNT_CACHE``, else ``~/.cache/stylehunt`` (read now, not at import)."""
    env = os.environ.get("STYLEHUNT_CACHE")
    return Path(env).expanduser() if env else Path("~/.cache/stylehunt").expanduser()


def _is_complete(folder: Path) -> bool:
    return (folder / "model_index.json").is_file()


def tiny_pipeline_path(family: str = "sd3") -> Path:
    """The folder of the cached tiny ``family`` pipeline (seed 0), building it on first use.

    The folder is ``$STYLEHUNT_CACHE/tiny/<family>-v1`` (default ``~/.cache/stylehunt``). It is
    built in a temporary sibling folder and moved into place with ``os.replace``, so it either
    exists complete or not at all; later calls (and other processes) reuse it untouched.
    """
    _check_family(family)
    parent = cache_root() / "tiny"
    final = parent / f"{family}-{_CACHE_VERSION}"
    if _is_complete(final):
        return final
    parent.mkdir(parents=True, exist_ok=True)
    import shutil  # here, not at import: every CLI command imports this module for the tiny model names
    import tempfile

    with _build_lock(parent):
        if _is_complete(final):  # another process built it while this one waited
            return final
        # Holding the lock, no build is running: a temporary folder left now is a killed build's (kill -9).
        for stale in parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():
            # Not something this module writes (its folders appear complete); do not trust it.
            logger.warning("Removing incomplete tiny model folder %s and rebuilding it", final)
            shutil.rmtree(final)
        logger.info("Building tiny %s pipeline into %s", family, final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=parent))
        try:
            try:
                save_tiny_pipeline(tmp, family, seed=0)
            except Exception as e:  # a full disk or `ulimit -f` reaches safetensors as its own error class
                if isinstance(e, OSError) or type(e).__name__ == "SafetensorError":
                    raise StorageError(
                        f"could not build the tiny {family} model in {parent}: {e}",
                        path=str(parent),
                        hint="free some disk space there (or raise `ulimit -f`), or set STYLEHUNT_CACHE to another folder",
                    ) from e
                raise
            # mkdtemp makes it 0700: give it what the umask gives new folders, so a shared cache serves every user
            mask = os.umask(0o022)
            os.umask(mask)
            os.chmod(tmp, 0o777 & ~mask)
            try:
                os.replace(tmp, final)
            except OSError:
                # Another process finished the same build first (one that took no lock); its copy is identical.
                if not _is_complete(final):
                    raise
                logger.debug("Tiny %s pipeline was built concurrently; using %s", family, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """One build of a tiny model at a time: ``flock`` on the cache folder itself (no lock file is left behind;
    the kernel drops a killed builder's lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: builds may overlap (each renames a whole folder)
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def load_tiny_pipeline(family: str = "sd3") -> DiffusionPipeline:
    """Load the cached tiny ``family`` pipeline with ``DiffusionPipeline.from_pretrained`` (offline)."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_pipeline_path(family), local_files_only=True)
    # its id is the tiny name (as load_pipeline gives it), not the cache folder: the bundled tiny
    # presets name that model, so applying one is not taken for a fine-tune
    pipe.register_to_config(_name_or_path=f"tiny-{family}")
    return pipe


#: The names ``--model`` and the registry accept for the tiny models: ``tiny-sd3`` etc.
TINY_MODEL_NAMES = tuple(f"tiny-{family}" for family in TINY_FAMILIES)
#: The same names as a message or ``--help`` lists them: ``tiny-sd3 / tiny-sd3.5 / ...``.
TINY_MODEL_LIST = " / ".join(TINY_MODEL_NAMES)


def resolve_tiny_model(name: str) -> Path | None:
    """Map a tiny model name (``"tiny-<family>"``, one of `TINY_MODEL_NAMES`) to `tiny_pipeline_path`.

    Any other string (a Hub id, a local path, ...) is not a tiny model name: return ``None``.
    Matching is exact (``"tiny-SD3"`` is not a tiny model name).
    """
    if isinstance(name, str) and name.startswith(_NAME_PREFIX):
        family = name[len(_NAME_PREFIX) :]
        if family in TINY_FAMILIES:
            return tiny_pipeline_path(family)
    return None
