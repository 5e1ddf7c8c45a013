"""``stylehunt studio``: a local web page (Gradio, as a Hugging Face Space runs it) over the library.

folders (the two folders the page may touch), work (mix, atlas, saving, publishing; no UI library),
searches (a search is the CLI's ``stylehunt search`` as a child process), app (the Gradio page).
Importing this package imports no UI library: `launch` does, when the studio starts.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from ..errors import StylehuntError

__all__ = ["launch", "check_available", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'stylehunt[studio]'"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: An atlas cell under the pointer grows to show its head's image (a click also opens it large).
HOVER_CSS = "#atlas button:hover img { transform: scale(2.5); z-index: 10; position: relative; transition: transform .1s; }"


def check_available() -> None:
    """Refuse, before any work, a Python without the studio extra (Gradio)."""
    if importlib.util.find_spec("gradio") is None:
        raise StylehuntError("the studio needs Gradio, which is not installed", hint=INSTALL_HINT)


def launch(*, out: str | os.PathLike[str], runs: str | os.PathLike[str], host: str = DEFAULT_HOST,
           port: int | None = DEFAULT_PORT, model: str | None = None, device: str | None = None,
           dtype: str | None = None, block: bool = True) -> Any:
    """Serve the studio on ``host:port`` (127.0.0.1 by default: this machine only).

    ``out`` and ``runs`` are the only folders the page can make it read or write (created if
    missing); Gradio's upload and image cache lives in ``out/.studio-cache``. ``model`` is loaded
    before the server starts. ``block=False`` returns ``(page, url)`` with the server running in a
    thread (``page.close()`` stops it); otherwise serves until Ctrl-C.
    """
    check_available()
    from .folders import Folders

    folders = Folders.create(out, runs)
    cache = folders.out / ".studio-cache"
    cache.mkdir(exist_ok=True)
    # Read by Gradio when it is imported and when it caches a file: set first, so nothing lands elsewhere
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .app import build
    from .work import Studio

    studio = Studio(folders, device=device, dtype=dtype)
    if model:  # once, before serving: a model that cannot load is the command's error, not every page's
        studio.load(model)
    page = build(studio, model=model)
    _, url, _ = page.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                            allowed_paths=[str(folders.out), str(folders.runs)], share=False, ssr_mode=False,
                            show_error=False, footer_links=[], css=HOVER_CSS)
    page.studio = studio
    if not block:
        return page, url
    try:
        page.block_thread()
    finally:
        for job in page.studio_jobs.values():
            job.stop()
    return page, url
