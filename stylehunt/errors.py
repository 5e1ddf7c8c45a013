"""Every exception stylehunt raises on purpose.

All derive from `StylehuntError` *and* from the stdlib class that fits (``ValueError`` for
bad values, ``TypeError`` for unsupported objects, ...), so callers can catch either. The CLI turns
any `StylehuntError` into one readable line (plus ``hint`` when set) and exit code 1.
"""

from __future__ import annotations


class StylehuntError(Exception):
    """Base class. ``hint`` is an optional one-line suggestion shown by the CLI.

    ``param`` is the library parameter the error is about (``"per_round"``, ``"out"``), as data, or
    ``None``: a front end (the CLI) maps it to its own name for it (``--per-round``) instead of
    parsing the message. ``cli_hint``, when set, is the hint for a command-line user where ``hint``
    names a Python-only form (``resume=True``, ``pretrained=/path``); the CLI shows it instead.
    Every subclass takes both and passes them on (``**common``).
    """

    hint: str | None = None
    param: str | None = None
    cli_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None,
                 cli_hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint
        if param is not None:
            self.param = param
        if cli_hint is not None:
            self.cli_hint = cli_hint


class InvalidPresetError(StylehuntError, ValueError):
    """A preset's content is invalid (bad heads, strength, scale, names, or file fields)."""


class HeadOutOfRangeError(InvalidPresetError):
    """A ``(layer, head)`` address does not exist in the model it is applied to."""


class UnsupportedModelError(StylehuntError, TypeError):
    """The pipeline, transformer or attention backend is not one stylehunt can guide."""


class GuidanceError(StylehuntError, ValueError):
    """Bad guidance settings (scale, strengths, identity mode, interval) or misuse of apply/remove."""


class NonFiniteGuidanceError(GuidanceError):
    """The guidance made the model's prediction non-finite (inf/NaN): the scale is too large.

    ``scale`` is the guidance scale, ``step`` the 1-based denoising step it happened at, of ``steps``.
    """

    hint = "use a smaller scale (typical scales are 1 to 10)"

    def __init__(self, message: str, *, scale: float, step: int, steps: int, hint: str | None = None,
                 **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.scale = scale
        self.step = step
        self.steps = steps


class ArchitectureMismatchError(StylehuntError, ValueError):
    """A preset was made for a different transformer architecture than the one it is applied to."""


class DeviceError(StylehuntError, ValueError):
    """A torch device that cannot be used here: not a device name, or no such device on this machine.

    ``device`` is the value given, ``reason`` what is missing (``"no CUDA GPU is available ..."``).
    """

    hint = "leave the device out to run on the CPU, or install a torch build for your GPU"

    def __init__(self, message: str, *, device: str, reason: str, hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.device = device
        self.reason = reason


class StorageError(StylehuntError, OSError):
    """A folder or file stylehunt must write cannot be written: permissions, a read-only or full
    disk, a file where a folder should be. ``path`` is the path that failed."""

    def __init__(self, message: str, *, path: str, hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.path = path


# --- preset files, references, registry and Hub (stylehunt.registry.fileformat, .registry, .hub) ---------


class PresetFileError(InvalidPresetError):
    """A preset file is malformed: bad JSON, or a missing, mistyped or unknown field.

    ``path`` is the file (or ``None`` for an in-memory dict), ``field`` the JSON path of the bad
    value (``"heads[3]"``, ``"provenance.objective.text"``), or ``None`` for the file as a whole;
    ``detail`` is what is wrong with that field, when the message is "<file>: <field>: <detail>".
    """

    hint = "see docs/presets.md for the stylehunt_preset.json format"

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None, hint: str | None = None,
                 detail: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **{"param": field, **common})
        self.path = path
        self.field = field
        self.detail = detail


class PresetFormatVersionError(PresetFileError):
    """A preset file (or registry index) was written by a newer stylehunt than this one."""

    hint = "upgrade stylehunt: pip install -U stylehunt"

    def __init__(self, message: str, *, found: object, supported: int, path: str | None = None,
                 **common: str | None):
        super().__init__(message, path=path, field="format_version", **common)
        self.found = found
        self.supported = supported


class PresetReferenceError(StylehuntError, ValueError):
    """A preset reference is malformed or ambiguous (``owner/repo`` without ``hf-hub:``, ``..``)."""

    hint = (
        "write a registry name (`sd3-medium/golden-hour[@1.2.0]`), `hf-hub:owner/repo[@revision]`,"
        " or a path to a .json file"
    )

    def __init__(self, message: str, *, ref: str, hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.ref = ref


class PresetNotFoundError(StylehuntError, LookupError):
    """An unknown registry name or version. ``available`` lists what exists, ``suggestions`` the closest."""

    hint = "run `stylehunt list` to see the registry"

    def __init__(
        self,
        message: str,
        *,
        ref: str,
        available: tuple[str, ...] = (),
        suggestions: tuple[str, ...] = (),
        hint: str | None = None,
        **common: str | None,
    ):
        super().__init__(message, hint=hint, **common)
        self.ref = ref
        self.available = tuple(available)
        self.suggestions = tuple(suggestions)


class RegistryIndexError(StylehuntError, ValueError):
    """The registry catalogue (``index.json``, bundled or refreshed) is malformed."""

    def __init__(self, message: str, *, source: str, hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.source = source


class PresetIntegrityError(StylehuntError, ValueError):
    """A file's sha256 differs from the pinned one (a corrupted cache or a changed remote file)."""

    hint = "delete the cached copy (`hf cache delete`) and run `stylehunt pull` again"

    def __init__(self, message: str, *, path: str, expected: str, actual: str, hint: str | None = None,
                 **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.path = path
        self.expected = expected
        self.actual = actual


class HubRepoNotFoundError(StylehuntError, LookupError):
    """A Hub repository (or revision, or preset file in it) does not exist or denies access."""

    hint = "check the name; for a private or gated repo log in with `hf auth login` or set HF_TOKEN"

    def __init__(self, message: str, *, repo_id: str, revision: str | None = None, hint: str | None = None,
                 **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.repo_id = repo_id
        self.revision = revision


class HubOfflineError(StylehuntError, ConnectionError):
    """The Hub cannot be reached (or HF_HUB_OFFLINE=1) and the file is not in the local cache."""

    hint = "run `stylehunt pull REF` while online (then it loads offline), or unset HF_HUB_OFFLINE"

    def __init__(self, message: str, *, repo_id: str, revision: str | None = None, hint: str | None = None,
                 **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.repo_id = repo_id
        self.revision = revision


class HubError(StylehuntError, ConnectionError):
    """Any other failure talking to the Hub (server error, refused write, ...)."""

    def __init__(self, message: str, *, repo_id: str | None = None, hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.repo_id = repo_id


class VersionExistsError(StylehuntError, FileExistsError):
    """Publishing a version that already exists (its ``v<version>`` tag is on the Hub repo)."""

    hint = "bump `version` (published versions are immutable)"

    def __init__(self, message: str, *, repo_id: str, version: str, hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.repo_id = repo_id
        self.version = version


class HubRevisionNotFoundError(HubRepoNotFoundError):
    """The Hub repo exists but the revision (tag, branch or commit) does not; ``available`` lists its tags."""

    def __init__(
        self, message: str, *, repo_id: str, revision: str | None, available: tuple[str, ...] = (),
        hint: str | None = None, **common: str | None,
    ):
        super().__init__(message, repo_id=repo_id, revision=revision, hint=hint, **common)
        self.available = tuple(available)


class ObjectiveError(StylehuntError, ValueError):
    """A bad objective: unknown name, malformed weighted sum, bad option, or scores of the wrong shape."""


class ScorerUnavailableError(StylehuntError, RuntimeError):
    """A scorer's weights cannot be loaded here: not cached and the Hub is offline or unreachable,
    not found on the Hub, or a local folder/file that is missing or unreadable."""


class PromptSourceError(StylehuntError, ValueError):
    """A prompt source cannot be read or yields no prompts: missing file, column or category,
    a Hub dataset that is unavailable offline, or an empty result after filtering."""


# --- head search (stylehunt.headhunter) ---------------------------------------------------------------


class SearchConfigError(StylehuntError, ValueError):
    """Bad search input, found before any image is generated: a setting, the prompts or seeds,
    the head pool (``k`` larger than the pool), the run folder."""


class ResumeMismatchError(SearchConfigError):
    """A run folder was made by a search with a different configuration or model.

    ``differences`` lists ``(field, saved value, new value)`` for what differs.
    """

    def __init__(self, message: str, *, differences: tuple = (), hint: str | None = None, **common: str | None):
        super().__init__(message, hint=hint, **common)
        self.differences = tuple(differences)


class SearchError(StylehuntError, RuntimeError):
    """The search failed while running: a non-finite score, or a run state that contradicts itself."""
