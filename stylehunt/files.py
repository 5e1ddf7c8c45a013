"""Files on the user's disk: atomic writes, content hashes, and bounded reads.

Everything stylehunt writes goes through one atomic writer (`atomic_write_bytes`, `atomic_write_image`,
`atomic_write_video`); everything it parses through `read_regular_file` and `load_json` (both at once:
`read_json`). Each refusal is one message naming the file; the caller chooses the exception class.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import StorageError, StylehuntError

__all__ = [
    "MAX_JSON_DEPTH",
    "VIDEO_SUFFIX",
    "atomic_write_bytes",
    "atomic_write_image",
    "read_image_text",
    "atomic_write_video",
    "atomic_write_audio",
    "check_video_writer",
    "sha256_file",
    "read_regular_file",
    "load_json",
    "read_json",
]

#: Arrays and objects nested deeper than this are refused. stylehunt's own files need at most 7
#: (a search preset's provenance; the registry index needs 6), so this is far above any valid file
#: and far below Python's recursion limit.
MAX_JSON_DEPTH = 64

#: Builds the exception a refused read raises, from the message and an optional hint; an error
#: class such as `stylehunt.errors.PresetFileError` works as is, or a lambda that adds fields.
ErrorFactory = Callable[..., BaseException]

_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_atomically(path: str | os.PathLike, fill: Callable[[Any, str], None], suffix: str = ".tmp") -> Path:
    """The one atomic writer: ``fill(file, name)`` writes a new temporary sibling of ``path``, renamed into place.

    ``fill`` gets the temporary file open for writing and its name (an encoder that writes by name
    writes the same file). A symlink at ``path`` is replaced, never followed. The file gets the
    permissions the user's umask gives new files (``0644`` under the usual ``022``), or keeps those
    of the regular file it replaces (the temporary file alone would be ``0600``). On any failure
    the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = os.lstat(target)
        mode = stat.S_IMODE(old.st_mode) if stat.S_ISREG(old.st_mode) else None
    except OSError:
        mode = None
    if mode is None:
        mode = 0o666 & ~_umask()
    try:
        import tempfile  # here, not at import: it pulls in shutil and the compression modules, which CLI start-up pays for

        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except OSError as e:
        raise _named(e, target) from e
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f, tmp)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, StylehuntError):
            raise _named(e, target) from e
        raise
    return target


#: errno of a write that ran out of room -> the fix (a full disk, a quota, the process's file-size limit).
_NO_ROOM = {
    errno.ENOSPC: "free some disk space there, or choose another location",
    errno.EDQUOT: "free some of your disk quota, or choose another location",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f) or the file system allows;"
    " raise the limit or choose another location",
}


def _named(error: OSError, target: Path) -> OSError:
    """``error`` naming the file the user asked for, not the temporary sibling it was written to.

    A write that ran out of room becomes `stylehunt.errors.StorageError` with the fix; any
    other error keeps its class and errno (``IsADirectoryError`` for a folder at ``target``).
    """
    cause = error.strerror or str(error) or type(error).__name__
    if error.errno in _NO_ROOM:
        return StorageError(
            f"could not write {target}: {cause}; it was left as it was", path=str(target), hint=_NO_ROOM[error.errno]
        )
    if error.errno is None:
        return error
    return OSError(error.errno, cause, str(target))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary sibling and ``os.replace`` (never a half file).

    A symlink at ``path`` is replaced, never followed; permissions as `_replace_atomically` says.
    """
    return _replace_atomically(path, lambda f, _name: f.write(data))


def atomic_write_image(image: Any, path: str | os.PathLike, *, text: Mapping[str, str] | None = None) -> Path:
    """Save a ``PIL.Image`` atomically, in the format of ``path``'s suffix (PNG without one).

    Encoded into memory, then written by `atomic_write_bytes`: a symlink at ``path`` is
    replaced, never written through, and a crash leaves the old file whole. ``text`` goes into a
    PNG as text chunks (key -> value; tEXt, or iTXt when a value is not Latin-1), the way A1111 and
    ComfyUI record generation parameters; other formats are written without it.
    """
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    target = Path(path)
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    options: dict[str, Any] = {}
    if text and fmt == "PNG":
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        options["pnginfo"] = info
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return atomic_write_bytes(target, buffer.getvalue())


#: The most bytes of PNG text chunks `read_image_text` returns (PIL's own cap per chunk is 1 MB).
MAX_IMAGE_TEXT = 1 << 20


def read_image_text(path: str | os.PathLike) -> dict[str, str]:
    """The text chunks of the PNG at ``path`` (``{}`` for a PNG without any); a regular file only.

    Raises `StylehuntError` naming the file when it is not a readable PNG. PIL refuses a
    text chunk over its own limit, so a hostile file cannot make this read unbounded text.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise StylehuntError(f"{p}: not a regular file")
    fmt, text, problem = None, {}, None
    try:
        with Image.open(p) as image:
            fmt = image.format
            if fmt == "PNG":
                image.load()  # text chunks after the pixel data are read with them
                text = dict(getattr(image, "text", {}) or {})
    except (OSError, UnidentifiedImageError, ValueError) as e:
        problem = str(e)
    if problem is not None:
        raise StylehuntError(f"{p}: not a readable image ({problem})")
    if fmt != "PNG":
        raise StylehuntError(f"{p}: a {fmt} image; generation parameters are read from PNG files",
                             hint="stylehunt generate writes them into the PNGs it makes (--out NAME.png)")
    total = sum(len(k) + len(v) for k, v in text.items())
    if total > MAX_IMAGE_TEXT:
        raise StylehuntError(f"{p}: {total} characters of text chunks, more than {MAX_IMAGE_TEXT}")
    return {str(k): str(v) for k, v in text.items()}


#: The video format stylehunt writes: MP4 (H.264), which every player reads.
VIDEO_SUFFIX = ".mp4"


def check_video_writer() -> None:
    """Refuse, before any work, a machine that cannot encode an mp4 (`atomic_write_video`'s backend).

    diffusers' ``export_to_video`` encodes through imageio with the ffmpeg binary that the
    ``imageio-ffmpeg`` wheel ships (the ``stylehunt[video]`` extra); without imageio it falls back to
    OpenCV, which diffusers deprecates and stylehunt does not use.
    """
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        raise StylehuntError(
            f"writing an mp4 video needs imageio and imageio-ffmpeg (its ffmpeg binary): {e}",
            hint="pip install 'stylehunt[video]'",
        ) from None
    # get_ffmpeg_exe returns IMAGEIO_FFMPEG_EXE unchecked: run it once, as the encoder will.
    import subprocess

    try:
        ran = subprocess.run([exe, "-version"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        problem = None if ran.returncode == 0 and ran.stdout.startswith(b"ffmpeg version") else (
            f"`{exe} -version` exited with status {ran.returncode}" if ran.returncode else f"{exe} is not ffmpeg")
    except (OSError, subprocess.SubprocessError) as e:
        problem = f"{exe} does not run ({e.strerror if isinstance(e, OSError) and e.strerror else e})"
    if problem:
        setting = " (IMAGEIO_FFMPEG_EXE)" if os.environ.get("IMAGEIO_FFMPEG_EXE") else ""
        raise StylehuntError(
            f"the video encoder{setting} cannot be used: {problem}",
            hint="unset IMAGEIO_FFMPEG_EXE or point it at an ffmpeg binary" if setting else "pip install 'stylehunt[video]'",
        )


def atomic_write_video(frames: Any, path: str | os.PathLike, *, fps: int, comment: str | None = None) -> Path:
    """Encode ``frames`` (PIL images) as an mp4 at ``fps`` into a temporary sibling, then rename it to ``path``.

    The encoder is imageio + imageio-ffmpeg (H.264), with diffusers' ``export_to_video`` settings: it
    writes the temporary file, never ``path``; a symlink at ``path`` is replaced, never written
    through, and a failed encode leaves ``path`` as it was (`_replace_atomically`). ``comment``
    (text, e.g. the generation record) is stored as the mp4's ``comment`` metadata tag
    (``stylehunt.cli.imagemeta.read_video_comment`` reads it back).
    """
    check_video_writer()
    target = Path(path)
    frames = list(frames)

    def encode(_f: Any, name: str) -> None:
        _encode_mp4(frames, name, fps=fps, comment=comment)
        _check_encoded(name, len(frames), target)

    # imageio picks the format from the name, so the temporary file ends in the target's suffix too
    return _replace_atomically(target, encode, suffix=f".tmp{target.suffix}")


def _encode_mp4(frames: list, name: str, *, fps: int, comment: str | None) -> None:
    """diffusers' ``export_to_video`` (quality 5, 16 px macro blocks), plus ffmpeg's ``-metadata comment=``."""
    import imageio
    import numpy as np

    params = ["-metadata", f"comment={comment}"] if comment else None
    with imageio.get_writer(name, fps=fps, quality=5.0, macro_block_size=16, output_params=params) as writer:
        for frame in frames:
            writer.append_data(np.asarray(frame))


def atomic_write_audio(samples: Any, path: str | os.PathLike, *, rate: int) -> Path:
    """Write ``samples`` (channels x samples, in [-1, 1]; clipped) as a 16-bit PCM WAV at ``rate`` Hz,
    atomically (`atomic_write_bytes`): the sound track a video model (LTX-2) makes beside its frames."""
    import io
    import wave

    import numpy as np

    data = np.asarray(samples, dtype=np.float32)
    data = data[None] if data.ndim == 1 else data
    pcm = (np.clip(data, -1.0, 1.0) * 32767.0).round().astype("<i2").T  # (samples, channels), interleaved
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(data.shape[0])
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(np.ascontiguousarray(pcm).tobytes())
    return atomic_write_bytes(path, buffer.getvalue())


def _check_encoded(name: str, expected: int, target: Path) -> None:
    """Refuse a temporary video ffmpeg did not finish: imageio-ffmpeg never checks ffmpeg's exit status, so
    a full disk (``ENOSPC``) or ``ulimit -f`` (ffmpeg killed by ``SIGXFSZ``) leaves a truncated mp4 behind
    an encode that "succeeded". The file is decoded once (``count_frames_and_secs``) and must hold every frame."""
    import imageio_ffmpeg

    try:
        found, _ = imageio_ffmpeg.count_frames_and_secs(name)
        problem = None if found == expected else f"it holds {found} of {expected} frames"
    except (RuntimeError, OSError, ValueError, IndexError) as e:  # ffmpeg cannot read it
        lines = [line for line in str(e).splitlines()[1:] if line.strip()]
        problem = f"ffmpeg cannot read it back ({lines[-1].strip() if lines else e})"
    if problem:
        raise StorageError(
            f"could not encode the video {target}: {problem}; it was left as it was",
            path=str(target),
            hint="free some disk space there, check the file-size limit (ulimit -f), or choose another location",
        )


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    import hashlib  # here, not at import: loading OpenSSL costs every CLI command's start-up

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# bounded reads


def _kind(mode: int) -> str | None:
    """What a non-regular file is (``"a named pipe (FIFO)"``), or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")


def _too_large(what: str, size: int | str, max_bytes: int, error: ErrorFactory) -> BaseException:
    return error(f"{what}: file is {size} bytes; the limit is {max_bytes} bytes (at most that much is read)")


def read_regular_file(
    path: str | os.PathLike, *, max_bytes: int, what: str | None = None, error: ErrorFactory = StylehuntError
) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), refusing anything else or anything larger.

    A FIFO, device, socket or folder is refused without blocking (it is opened non-blocking and
    checked with ``fstat`` before any read); a file over ``max_bytes`` is refused from its size,
    and never more than ``max_bytes + 1`` bytes are read even if it grows meanwhile. Refusals raise
    ``error(message, hint=...)``; the message starts with ``what`` (default: the path).

    >>> read_regular_file("/dev/null", max_bytes=10, what="prompts")
    Traceback (most recent call last):
    ...
    stylehunt.errors.StylehuntError: prompts: a character device, not a regular file; stylehunt reads only regular files

    Only regular files are read: a FIFO, device, socket or folder is refused before a byte is read
    (a FIFO would block forever, ``/dev/zero`` never ends); at most ``max_bytes`` are read, whatever
    the file's size.
    """
    name = os.fspath(path)
    what = what or name
    nonblock = getattr(os, "O_NONBLOCK", 0)
    if not nonblock:  # no non-blocking open (Windows): look before opening
        try:
            kind = _kind(os.stat(name).st_mode)
        except OSError:
            kind = None  # open() below reports it
        if kind:
            raise _not_regular(what, kind, error)
    try:
        fd = os.open(name, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{what}: no such file", hint="check the path") from None
    except OSError as e:
        raise error(f"{what}: cannot read ({e.strerror or e})") from None
    info = os.fstat(fd)
    kind = _kind(info.st_mode)
    if kind or info.st_size > max_bytes:
        os.close(fd)
        raise _not_regular(what, kind, error) if kind else _too_large(what, info.st_size, max_bytes, error)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise error(f"{what}: cannot read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise _too_large(what, f"more than {max_bytes}", max_bytes, error)
    return data


def _not_regular(what: str, kind: str, error: ErrorFactory) -> BaseException:
    return error(
        f"{what}: {kind}, not a regular file; stylehunt reads only regular files",
        hint="give the path of a file (a named pipe, device or folder is never read)",
    )


# Strings first (they may hold brackets), then the brackets outside them. Exact for valid JSON; for
# malformed JSON a wrong count only changes which refusal is reported.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _deeper_than(text: str, limit: int) -> bool:
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(
    raw: bytes | str,
    *,
    what: str | None = None,
    max_bytes: int | None = None,
    max_depth: int = MAX_JSON_DEPTH,
    strict: bool = True,
    error: ErrorFactory = StylehuntError,
) -> Any:
    """Parse JSON text (or UTF-8 bytes) with bounds: size, nesting depth and, if ``strict``, no duplicate keys or NaN.

    Bytes over ``max_bytes`` and arrays/objects nested deeper than ``max_depth`` are refused before
    parsing. Every refusal, and malformed JSON, raises ``error(message, hint=...)`` with a message
    starting ``"<what>: "`` (nothing when ``what`` is ``None``).

    >>> load_json('{"heads": [[1, 10]]}')
    {'heads': [[1, 10]]}
    >>> load_json("[" * 100 + "]" * 100, what="p.json")
    Traceback (most recent call last):
    ...
    stylehunt.errors.StylehuntError: p.json: JSON nested more than 64 levels deep (arrays and objects inside each other); the limit is 64

    JSON nested deeper than `MAX_JSON_DEPTH` is refused before it is parsed (the parser, and every
    function walking the result, recurse once per level). Strict by default: duplicate keys, ``NaN``
    and ``Infinity`` are refused.
    """
    where = f"{what}: " if what else ""
    if isinstance(raw, (bytes, bytearray)):
        if max_bytes is not None and len(raw) > max_bytes:
            raise _too_large(what or "JSON", len(raw), max_bytes, error)
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{where}not UTF-8 text ({e})") from None
    elif max_bytes is not None and len(raw) > max_bytes:  # characters: at least as many bytes
        raise _too_large(what or "JSON", f"more than {max_bytes}", max_bytes, error)
    if _deeper_than(raw, max_depth):
        raise error(
            f"{where}JSON nested more than {max_depth} levels deep (arrays and objects inside each other);"
            f" the limit is {max_depth}"
        )
    hooks: dict[str, Any] = {"object_pairs_hook": _no_duplicate_keys, "parse_constant": _refuse_constant} if strict else {}
    try:
        return json.loads(raw, **hooks)
    except json.JSONDecodeError as e:
        raise error(f"{where}malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:  # duplicate key, NaN/Infinity; RecursionError cannot pass the depth check
        raise error(f"{where}malformed JSON: {e}") from None


def read_json(
    path: str | os.PathLike,
    *,
    max_bytes: int,
    what: str | None = None,
    max_depth: int = MAX_JSON_DEPTH,
    strict: bool = True,
    error: ErrorFactory = StylehuntError,
) -> Any:
    """`read_regular_file` then `load_json`: the parsed JSON of a regular file, within every bound."""
    what = what or os.fspath(path)
    raw = read_regular_file(path, max_bytes=max_bytes, what=what, error=error)
    return load_json(raw, what=what, max_depth=max_depth, strict=strict, error=error)
