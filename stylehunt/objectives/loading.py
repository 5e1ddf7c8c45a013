"""Getting scorer weights into memory: local folders and files, the Hub (offline-aware), one shared open_clip copy.

Every scorer weight goes through here; Hub access through `stylehunt.hub`. torch, transformers,
open_clip and huggingface_hub are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ObjectiveError, ScorerUnavailableError
from .base import did_you_mean, resolve_device, resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = [
    "DEFAULT_CLIP_MODEL",
    "DEFAULT_CLIP_PRETRAINED",
    "OpenClipBundle",
    "load_open_clip",
    "load_transformers",
    "resolve_weights_file",
]

logger = logging.getLogger(__name__)

DEFAULT_CLIP_MODEL = "ViT-L-14"
DEFAULT_CLIP_PRETRAINED = "openai"


def _unavailable(what: str, spec: str, reason: str, *, hint: str, cause: BaseException | None = None,
                 cli_hint: str | None = None) -> ScorerUnavailableError:
    msg = f"{what} {spec!r} cannot be loaded: {reason}"
    if cause is not None:
        first = (str(cause).strip().splitlines() or [""])[0]
        msg += f" [{type(cause).__name__}: {first}]"
    return ScorerUnavailableError(msg, hint=hint, cli_hint=cli_hint)


def _from_cli(fix: str | None, setting: str, local: str) -> str:
    """The ``cli_hint`` of a hint whose alternative is ``option=/path``: the command line gives ``local`` (a
    path) to the scorer setting ``setting`` (``pickscore_processor``, quoted for the CLI to name its flag)."""
    give = f"give {local} as `{setting}` PATH"
    return f"{fix}, or {give}" if fix else give


def _not_cached(cache: str | None, reason: str) -> str:
    from .. import hub

    return f"it is not in the Hugging Face cache ({hub.cache_dir(cache)}) and {reason}"


# ------------------------------------------------------------------------------------------------
# transformers models (PickScore)
# ------------------------------------------------------------------------------------------------


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", "\\")) or spec.count("/") > 1 or os.sep != "/" and os.sep in spec


def _hf_source(spec: str, what: str) -> tuple[str, bool]:
    """Resolve a transformers model/processor spec to ``(path_or_repo_id, is_local)``.

    ``local-dir:PATH`` or an existing folder is local; ``hf-hub:ORG/NAME`` or ``ORG/NAME`` is a Hub id
    (transformers' own convention); anything else that looks like a path must exist.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ObjectiveError(f"Expected {what} to be a Hub id or a local folder, but got {spec!r}")
    spec = spec.strip()
    if spec.startswith("local-dir:"):
        path = os.path.expanduser(spec[len("local-dir:") :])
        if not os.path.isdir(path):
            raise _unavailable(what, spec, "the folder does not exist", hint="pass an existing folder written by save_pretrained")
        return path, True
    if spec.startswith("hf-hub:"):
        return spec[len("hf-hub:") :], False
    if os.path.isdir(os.path.expanduser(spec)):
        return os.path.expanduser(spec), True
    if _looks_like_path(spec):
        raise _unavailable(what, spec, "no such folder", hint="pass an existing folder written by save_pretrained, or a Hub id ORG/NAME")
    return spec, False


def _download_hint(repo_id: str) -> str:
    return f"download it where the Hub is reachable (`hf download {repo_id}`) into the Hugging Face cache"


def _offline_hint(repo_id: str, *, option: str) -> str:
    return f"{_download_hint(repo_id)}, or save it to a folder and pass that folder ({option}=/path/to/folder)"


def load_transformers(loader: Callable[..., Any], spec: str, *, what: str, option: str, cache_dir: str | None,
                      setting: str | None = None) -> Any:
    """Call ``loader`` (a ``from_pretrained``) on a folder or Hub id, offline-aware.

    Every failure becomes `ScorerUnavailableError` naming ``what`` and ``spec``, with a hint
    that mentions the user-facing ``option`` to pass a folder instead (and the ``cli_hint`` the
    scorer setting ``setting``, default ``option``, the CLI's name for it).

    Hub specs get one quick `stylehunt.hub.repo_status` probe first, then the cache only when the Hub
    does not answer or ``HF_HUB_OFFLINE=1`` is set, so a model that is not cached fails at once with
    `stylehunt.errors.ScorerUnavailableError` (whose hint says how to provide it) instead of retrying
    each file for about 30 s.
    """
    from .. import hub

    source, local = _hf_source(spec, what)
    setting = setting or option
    kwargs: dict[str, Any] = {}
    if local:
        kwargs["local_files_only"] = True
        reason = f"the folder {source!r} could not be read"
    else:
        status, reason = hub.repo_status(source)
        if status == "missing":
            raise _unavailable(what, spec, reason, hint=f"check the id, or pass a local folder ({option}=/path/to/folder)",
                               cli_hint=_from_cli("check the id", setting, "a local folder"))
        kwargs["local_files_only"] = status == "cache-only"
        kwargs["cache_dir"] = str(hub.cache_dir(cache_dir))
        reason = _not_cached(cache_dir, reason) if status == "cache-only" else "loading from the Hub failed"
    try:
        return loader(source, **kwargs)
    except Exception as e:  # transformers raises OSError/ValueError/... for missing or bad files
        hint = _offline_hint(source, option=option) if not local else "pass a folder written by save_pretrained"
        cli_hint = None if local else _from_cli(_download_hint(source), setting, "a local folder")
        raise _unavailable(what, spec, reason, hint=hint, cause=e, cli_hint=cli_hint) from e


# ------------------------------------------------------------------------------------------------
# Weight files (the aesthetic MLP)
# ------------------------------------------------------------------------------------------------


def resolve_weights_file(spec: str, cache_dir: str | None) -> str:
    """A local file, or ``hf-hub:ORG/NAME[@REVISION]/PATH/IN/REPO`` from the Hub (cache-only offline)."""
    from .. import hub

    what = "aesthetic MLP weights"
    if not isinstance(spec, str) or not spec.strip():
        raise ObjectiveError(f"Expected `weights` to be a file path or hf-hub:ORG/NAME/FILE, but got {spec!r}")
    spec = spec.strip()
    if not spec.startswith("hf-hub:"):
        path = os.path.expanduser(spec)
        if os.path.isfile(path):
            return path
        raise _unavailable(what, spec, "no such file", hint="pass a local .pth/.safetensors file, or hf-hub:ORG/NAME/FILE for a Hub file")
    parts = spec[len("hf-hub:") :].split("/")
    if len(parts) < 3 or not all(parts):
        raise ObjectiveError(f"Expected `weights` as hf-hub:ORG/NAME[@REVISION]/FILE, but got {spec!r}")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    repo_id, _, revision = repo_id.partition("@")
    status, reason = hub.repo_status(repo_id)
    if status == "missing":
        raise _unavailable(what, spec, reason, hint="check the repo id, or pass a local file")
    try:
        return hub.download(repo_id, filename, revision=revision or None, cache=cache_dir, local_files_only=status == "cache-only")
    except Exception as e:
        where = _not_cached(cache_dir, reason) if status == "cache-only" else "the download failed"
        raise _unavailable(what, spec, where, cause=e,
                           hint=f"download it where the Hub is reachable (`hf download {repo_id} {filename}`), or pass weights=/path/to/file",
                           cli_hint=_from_cli(f"download it where the Hub is reachable (`hf download {repo_id} {filename}`)",
                                              "aesthetic_weights", "a local file")) from e


# ------------------------------------------------------------------------------------------------
# open_clip models (clip, aesthetic), one shared copy per settings
# ------------------------------------------------------------------------------------------------


class OpenClipBundle:
    """A loaded open_clip model with its eval transform and tokenizer (weak-ref cached by settings)."""

    def __init__(self, model: Any, preprocess: Callable[[Any], Any], tokenizer: Callable[[list[str]], Any], source: str):
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.source = source

    @property
    def embed_dim(self) -> int:
        visual = self.model.visual
        dim = getattr(visual, "output_dim", None)
        if dim is None:  # timm towers: infer from a projection
            proj = getattr(visual, "proj", None) or getattr(self.model, "text_projection", None)
            dim = proj.shape[-1] if hasattr(proj, "shape") else proj.out_features
        return int(dim)

    def encode_images(self, images: list["Image.Image"]) -> "torch.Tensor":
        import torch

        param = next(self.model.parameters())
        batch = torch.stack([self.preprocess(im.convert("RGB")) for im in images]).to(device=param.device, dtype=param.dtype)
        return self.model.encode_image(batch, normalize=True).float()

    def encode_texts(self, texts: list[str]) -> "torch.Tensor":
        tokens = self.tokenizer(texts).to(next(self.model.parameters()).device)
        return self.model.encode_text(tokens, normalize=True).float()


_OPEN_CLIP_CACHE: "weakref.WeakValueDictionary[tuple, OpenClipBundle]" = weakref.WeakValueDictionary()
_OPEN_CLIP_LOCK = threading.Lock()


def load_open_clip(model: str, pretrained: str | None, *, device: Any, dtype: Any, cache_dir: str | None) -> OpenClipBundle:
    """One loaded copy per (model, pretrained, device, dtype, cache) while any objective holds it.

    Models are cached weakly by their settings, so ``clip`` and ``aesthetic`` on the same CLIP tower
    share one loaded copy while both are alive.
    """
    from .. import hub

    dev, dt = resolve_device(device), resolve_dtype(dtype)
    key = (model, pretrained, str(dev), str(dt), str(hub.cache_dir(cache_dir)))
    with _OPEN_CLIP_LOCK:
        bundle = _OPEN_CLIP_CACHE.get(key)
        if bundle is None:
            bundle = _create_open_clip(model, pretrained, device=dev, dtype=dt, cache_dir=cache_dir)
            _OPEN_CLIP_CACHE[key] = bundle
        return bundle


def _open_clip_not_found(model: str, names: list[str]) -> ObjectiveError:
    return ObjectiveError(
        f"open_clip has no model named {model!r}" + did_you_mean(model, names),
        hint="see open_clip.list_models(); for a Hub repo write hf-hub:ORG/NAME, for a folder local-dir:PATH",
    )


def _resolve_open_clip(model: str, pretrained: str | None, cache_dir: str | None) -> tuple[str, dict[str, Any], str]:
    """Turn (model, pretrained) into open_clip ``create_model_from_pretrained`` arguments, offline-aware.

    Returns ``(model_name, kwargs, tokenizer_name)``. Hub files are resolved here (cache-only when
    offline or unreachable) so a missing file fails fast instead of retrying for minutes.
    """
    import open_clip

    from .. import hub

    what = "open_clip model"
    if not isinstance(model, str) or not model.strip():
        raise ObjectiveError(f"Expected `model` to be an open_clip model name, hf-hub:ORG/NAME or local-dir:PATH, but got {model!r}")
    model = model.strip()
    if model.startswith("local-dir:"):
        path = os.path.expanduser(model[len("local-dir:") :])
        if not os.path.isfile(os.path.join(path, "open_clip_config.json")):
            raise _unavailable(what, model, f"{path!r} has no open_clip_config.json", hint="pass a folder with open_clip_config.json and the weights")
        if pretrained is not None:
            raise ObjectiveError(f"`pretrained` ({pretrained!r}) does not apply to {model!r}: the folder holds the weights; drop it")
        return f"local-dir:{path}", {}, f"local-dir:{path}"
    if model.startswith("hf-hub:"):
        if pretrained is not None:
            raise ObjectiveError(f"`pretrained` ({pretrained!r}) does not apply to {model!r}: the repo holds the weights; drop it")
        repo_id = model[len("hf-hub:") :]
        status, reason = hub.repo_status(repo_id)
        if status == "missing":
            raise _unavailable(what, model, reason, hint="check the repo id, or pass local-dir:PATH")
        if status == "online":
            return model, {"cache_dir": str(hub.cache_dir(cache_dir))}, model
        try:  # cache-only: use the cached snapshot folder as a local-dir
            config_path = hub.download(repo_id, "open_clip_config.json", cache=cache_dir, local_files_only=True)
            _open_clip_weights(repo_id, "open_clip_pytorch_model.bin", cache_dir=cache_dir, local_only=True)
        except ScorerUnavailableError:
            raise
        except Exception as e:
            raise _unavailable(
                what, model, _not_cached(cache_dir, reason), cause=e,
                hint=f"download it where the Hub is reachable (`hf download {repo_id}`), or pass model=local-dir:/path/to/folder",
            ) from e
        folder = f"local-dir:{os.path.dirname(config_path)}"
        return folder, {}, folder

    names = open_clip.list_models()
    name = model if model in names else model.replace("/", "-")
    if name not in names:
        if "/" in model:
            raise ObjectiveError(
                f"{model!r} is neither an open_clip model name nor a schema: write hf-hub:{model} for a Hub repo"
                f" or local-dir:{model} for a folder (a bare ORG/NAME is refused so nothing else loads silently)"
            )
        raise _open_clip_not_found(model, names)
    pretrained = DEFAULT_CLIP_PRETRAINED if pretrained is None else pretrained
    if os.path.isfile(os.path.expanduser(pretrained)):
        return name, {"pretrained": os.path.expanduser(pretrained)}, name
    cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(name)
        raise ObjectiveError(
            f"{pretrained!r} is neither a file nor a pretrained tag of open_clip model {name!r}; tags: {', '.join(tags) or '(none)'}"
            + did_you_mean(pretrained, tags)
        )
    preprocess = {
        "image_mean": cfg.get("mean"),
        "image_std": cfg.get("std"),
        "image_interpolation": cfg.get("interpolation"),
        "image_resize_mode": cfg.get("resize_mode"),
        "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
    }
    preprocess = {k: v for k, v in preprocess.items() if v is not None}
    hub_path = cfg.get("hf_hub", "")
    if not hub_path:  # URL-only tag: let open_clip download it (it will fail fast without network)
        if hub.is_offline():
            raise _unavailable(what, f"{name}/{pretrained}", "its weights are only published at a URL and offline mode is on",
                               hint="download the checkpoint and pass its path as pretrained=/path/to/file",
                               cli_hint="download the checkpoint and give its path as `clip_pretrained` PATH")
        return name, {"pretrained": pretrained, "cache_dir": cache_dir, **preprocess}, name
    repo_id, filename = os.path.split(hub_path)  # "org/name/" means the default file name
    filename = filename or "open_clip_pytorch_model.bin"
    status, reason = hub.repo_status(repo_id)
    if status == "missing":
        raise _unavailable(what, f"{name}/{pretrained}", reason, hint="pass a checkpoint path as pretrained=/path/to/file",
                           cli_hint=_from_cli(None, "clip_pretrained", "a checkpoint file"))
    path = _open_clip_weights(
        repo_id, filename, cache_dir=cache_dir, local_only=status == "cache-only",
        reason=reason if status == "cache-only" else "the download failed", spec=f"{name}/{pretrained}",
    )
    return name, {"pretrained": path, **preprocess}, name


def _open_clip_weights(
    repo_id: str, filename: str, *, cache_dir: str | None, local_only: bool, reason: str = "", spec: str | None = None
) -> str:
    """Fetch (or find in the cache) an open_clip checkpoint, preferring the safetensors twin like open_clip."""
    from open_clip.pretrained import _get_safe_alternatives

    from .. import hub

    candidates = list(_get_safe_alternatives(filename)) + [filename]
    last: Exception | None = None
    for candidate in candidates:
        try:
            return hub.download(repo_id, candidate, cache=cache_dir, local_files_only=local_only)
        except Exception as e:  # not cached / not on the Hub: try the next name
            last = e
    raise _unavailable(
        "open_clip weights", spec or f"{repo_id}/{filename}", _not_cached(cache_dir, reason) if local_only else reason,
        hint=f"download {repo_id} where the Hub is reachable (`hf download {repo_id}`), or pass pretrained=/path/to/checkpoint",
        cause=last, cli_hint=_from_cli(f"download {repo_id} where the Hub is reachable (`hf download {repo_id}`)", "clip_pretrained",
                                            "a checkpoint file"),
    )


def _create_open_clip(model: str, pretrained: str | None, *, device: Any, dtype: Any, cache_dir: str | None) -> OpenClipBundle:
    import open_clip
    import torch

    name, kwargs, tokenizer_name = _resolve_open_clip(model, pretrained, cache_dir)
    precision = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    source = f"{model}" + (f" ({pretrained})" if pretrained else "")
    try:
        clip_model, preprocess = open_clip.create_model_from_pretrained(name, precision=precision, device=device, **kwargs)
        tokenizer = open_clip.get_tokenizer(tokenizer_name)
    except (ScorerUnavailableError, ObjectiveError):
        raise
    except Exception as e:
        raise _unavailable("open_clip model", source, "open_clip could not build or load it", cause=e,
                           hint="check the model name and weights (open_clip.list_pretrained()), or pass local-dir:PATH") from e
    clip_model.eval().requires_grad_(False)
    logger.info("loaded open_clip model %s", source)
    return OpenClipBundle(clip_model, preprocess, tokenizer, source)
