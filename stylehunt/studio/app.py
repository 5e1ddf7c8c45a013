"""The studio's page: a Gradio ``Blocks`` app with the Model, Mix, Atlas, Search and Publish tabs.

Only layout and wiring live here; what a button does is in `work` and `searches`. Every
button's handler is a generator guarded by `_guarded`, so an error becomes a message on its
tab (the error's text and hint), never a traceback, and a Cancel button stops it between two images.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

import gradio as gr

from ..errors import StylehuntError
from ..headhunter.settings import DEFAULT_SCALE, DEFAULT_STRENGTH, STRATEGIES
from .searches import SearchJob, clean_env, describe, read_rounds, result_images
from .work import SWEEP, Studio

logger = logging.getLogger(__name__)

#: Preset slots on the Mix tab: one reference and one strength slider each.
SLOTS = 3
#: Objectives offered by name (others can be typed: a weighted sum such as pickscore+0.5*aesthetic).
OBJECTIVES = ("pickscore", "clip", "aesthetic", "brightness", "saturation", "contrast", "warmth")
#: Seconds between two looks at a running search's state.json.
POLL = 0.5


def _cancel_button(button: Any, flag: threading.Event) -> None:
    """``button`` sets ``flag``; the action it cancels clears it when it starts and checks it after every image,
    then says "cancelled" itself. (Gradio's ``cancels=`` stops a handler, but an update already on its way can
    land after the Cancel's own message: under load the tab kept showing "head 2 of 8".)"""
    button.click(flag.set, None, None, queue=False)


def _message(error: BaseException) -> str:
    """The page's form of an error: what failed and what to do, like the CLI's two lines."""
    if isinstance(error, StylehuntError):
        return f"**Error:** {error}" + (f"  \n**Hint:** {error.hint}" if error.hint else "")
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return f"**Error:** {error.strerror or error}{where}  \n**Hint:** check that path and free disk space"
    logger.exception("studio action failed")
    return f"**Error:** unexpected {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}  \n" \
           "**Hint:** this is a bug in stylehunt; the studio's terminal shows the traceback"


def _guarded(out: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a generator of update dicts) with every error turned into a message in ``out``."""

    def run(*args: Any):
        try:
            yield from fn(*args)
        except Exception as e:  # noqa: BLE001 - the page's one error boundary
            yield {out: _message(e)}

    run.__name__ = fn.__name__
    return run


def build(studio: Studio, *, model: str | None = None) -> gr.Blocks:
    """The page for ``studio``; ``model`` pre-fills the Model tab (``launch`` loads it before serving)."""
    from ..registry import list_presets

    registry = list_presets()
    jobs: dict[str, SearchJob] = {}
    env = clean_env()

    with gr.Blocks(title="stylehunt studio", analytics_enabled=False) as page:
        gr.Markdown("# stylehunt studio")
        with gr.Tab("Model", elem_id="tab-model"):
            model_box = gr.Textbox(value=model or "tiny-sd3", label="Model (a Hub id, a folder in the output folder, or tiny-sd3 ...)",
                                   elem_id="model")
            with gr.Row():
                device_box = gr.Textbox(value=studio.device or "", label="Device (empty: the CLI's choice)", elem_id="device")
                dtype_box = gr.Dropdown(["", "float32", "float16", "bfloat16"], value=studio.dtype or "",
                                        label="dtype (empty: the CLI's choice)")
            with gr.Row():
                load_btn = gr.Button("Load", elem_id="load", variant="primary")
                load_stop = gr.Button("Cancel", elem_id="load-stop")
            model_msg = gr.Markdown(studio.loaded or "no model yet: load one", elem_id="model-msg")

        with gr.Tab("Mix", elem_id="tab-mix"):
            prompt = gr.Textbox(value="a lighthouse at dusk", label="Prompt", elem_id="mix-prompt")
            refs, sliders = [], []
            for i in range(SLOTS):
                with gr.Row():
                    refs.append(gr.Dropdown(registry, value=None, allow_custom_value=True, elem_id=f"preset-{i}",
                                            label=f"Preset {i + 1} (registry name, hf-hub:owner/repo, or a file in the folders)"))
                    sliders.append(gr.Slider(0, 1, value=0.5, step=0.05, label=f"Strength u {i + 1}", elem_id=f"u-{i}"))
            with gr.Row():
                hub_pattern = gr.Textbox(value="*", label="Hub search (stylehunt list --hub)", elem_id="hub-pattern")
                hub_btn = gr.Button("List Hub presets", elem_id="hub-list")
            with gr.Row():
                scale = gr.Slider(0, 20, value=DEFAULT_SCALE, step=0.5, label="Scale w", elem_id="scale")
                start = gr.Slider(0, 1, value=0.0, step=0.05, label="Guide from", elem_id="start")
                stop = gr.Slider(0, 1, value=1.0, step=0.05, label="Guide until", elem_id="stop")
                identity = gr.Radio(["joint", "image"], value="joint", label="Identity", elem_id="identity")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
                steps = gr.Number(value=20, precision=0, minimum=1, label="Steps", elem_id="steps")
                size = gr.Number(value=None, precision=0, label="Size px (empty: the model's)", elem_id="size")
            with gr.Row():
                mix_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                mix_stop = gr.Button("Cancel", elem_id="mix-cancel")
            mix_msg = gr.Markdown("", elem_id="mix-msg")
            with gr.Row():
                baseline_img = gr.Image(label="Unguided (same seed)", type="pil", elem_id="baseline", format="png")
                styled_img = gr.Image(label="Styled", type="pil", elem_id="styled", format="png")
            sweep = gr.Gallery(label="Strength sweep (every u times the factor)", columns=len(SWEEP), elem_id="sweep",
                               format="png")
            video = gr.Video(label="Styled video", visible=False, elem_id="video")
            frames = gr.Gallery(label="Frames", visible=False, columns=8, elem_id="frames")

        with gr.Tab("Atlas", elem_id="tab-atlas"):
            a_prompt = gr.Textbox(value="a lighthouse at dusk", label="Prompt", elem_id="atlas-prompt")
            with gr.Row():
                a_scale = gr.Number(value=DEFAULT_SCALE, label="Scale w", elem_id="atlas-scale")
                a_strength = gr.Slider(0.05, 1, value=DEFAULT_STRENGTH, step=0.05, label="Strength u", elem_id="atlas-u")
                a_layers = gr.Textbox(value="", label="Layers (e.g. 0-5; empty: all)", elem_id="atlas-layers")
                a_seed = gr.Number(value=0, precision=0, label="Seed")
                a_steps = gr.Number(value=20, precision=0, minimum=1, label="Steps", elem_id="atlas-steps")
                a_size = gr.Number(value=None, precision=0, label="Size px", elem_id="atlas-size")
            with gr.Row():
                atlas_btn = gr.Button("Render atlas", variant="primary", elem_id="atlas-render")
                atlas_stop = gr.Button("Cancel", elem_id="atlas-cancel")
            atlas_msg = gr.Markdown("", elem_id="atlas-msg")
            atlas = gr.Gallery(label="One head guided per cell, a row per layer (click one)", columns=5, elem_id="atlas", format="png",
                               allow_preview=False)
            cells = gr.State([])  # per cell: its (layer, head) or None
            pictures = gr.State([])  # per cell: its image, kept here (the page's click names a cell, not a file)
            with gr.Row():
                cell_img = gr.Image(label="Selected head", type="pil", elem_id="cell", format="png")
                with gr.Column():
                    cell_label = gr.Textbox(label="Selected head", interactive=False, elem_id="cell-label")
                    add_btn = gr.Button("Add head to the preset", elem_id="add-head")
                    adhoc = gr.Textbox(value="", label="Ad-hoc preset heads (L:H,...)", elem_id="adhoc")
                    save_name = gr.Textbox(value="my-preset", label="Save as (a file in the output folder)",
                                           elem_id="save-name")
                    save_btn = gr.Button("Save preset file", elem_id="save-preset")

        with gr.Tab("Search", elem_id="tab-search"):
            with gr.Row():
                run_name = gr.Textbox(value="run-1", label="Run folder (in the runs folder)", elem_id="run-name")
                objective = gr.Dropdown(list(OBJECTIVES), value="pickscore", allow_custom_value=True, label="Objective",
                                        elem_id="objective")
                strategy = gr.Radio(list(STRATEGIES), value=STRATEGIES[0], label="Strategy", elem_id="strategy")
            style = gr.Textbox(value="", label="Style text", elem_id="style")
            prompts = gr.Textbox(value="", lines=3, label="Prompts, one per line (empty: the bundled default set)",
                                 elem_id="search-prompts")
            with gr.Row():
                rounds = gr.Number(value=5, precision=0, minimum=1, label="Rounds", elem_id="rounds")
                per_round = gr.Number(value=3, precision=0, minimum=1, label="Heads per round", elem_id="per-round")
                s_steps = gr.Number(value=20, precision=0, minimum=1, label="Steps", elem_id="search-steps")
                s_size = gr.Number(value=None, precision=0, label="Resolution px", elem_id="search-size")
            with gr.Row():
                search_btn = gr.Button("Start", variant="primary", elem_id="search-start")
                search_stop = gr.Button("Stop", elem_id="search-stop")
                resume_btn = gr.Button("Resume", elem_id="search-resume")
            search_msg = gr.Markdown("", elem_id="search-msg")
            curve = gr.LinePlot(x="round", y="score", label="Score per round", elem_id="curve")
            best = gr.Gallery(label="Best head set after each round", columns=5, elem_id="best", format="png")

        with gr.Tab("Publish", elem_id="tab-publish"):
            with gr.Row():
                p_file = gr.Textbox(value="", label="Preset file (in the output or runs folder)", elem_id="publish-file")
                p_repo = gr.Textbox(value="", label="Hub repo (owner/name)", elem_id="publish-repo")
                p_version = gr.Textbox(value="", label="Version (empty: the file's)", elem_id="publish-version")
                p_name = gr.Textbox(value="", label="Registry name (empty: the file's)", elem_id="publish-name")
            with gr.Row():
                p_prompt = gr.Textbox(value="a lighthouse at dusk", label="Preview prompt (a styled + unguided pair)",
                                      elem_id="publish-prompt")
                p_previews = gr.Checkbox(value=True, label="Generate the preview pair on the loaded model",
                                         elem_id="publish-previews")
                p_token = gr.Textbox(value="", type="password", label="Token (empty: HF_TOKEN or hf auth login)",
                                     elem_id="publish-token")
            with gr.Row():
                plan_btn = gr.Button("Prepare (dry run: card and reference)", elem_id="publish-plan")
                plan_stop = gr.Button("Cancel", elem_id="publish-plan-stop")
            p_ref = gr.Textbox(label="It will load as", interactive=False, elem_id="publish-ref")
            p_gallery = gr.Gallery(label="Preview pair (the card's gallery)", columns=2, elem_id="publish-previews-shown",
                                   format="png")
            p_card = gr.Code("", language="markdown", label="README.md: the model card, as it will be uploaded",
                             interactive=False, elem_id="publish-card")
            p_confirm = gr.Checkbox(value=False, label="I confirm: publish this preset to the Hub", elem_id="publish-confirm")
            publish_btn = gr.Button("Publish", variant="stop", elem_id="publish-go")
            publish_msg = gr.Markdown("", elem_id="publish-msg")
            planned = gr.State(None)

        # ---- Model -----------------------------------------------------------------------------
        # A load is one library call: it runs in a thread while the handler reports the time taken. Cancel
        # ends the handler at once and marks the load, whose pipeline is dropped when it returns, so the
        # model loaded before stays (Studio.load).
        stop_load = threading.Event()
        loading = {"cancel": threading.Event()}  # the latest load's own flag: an earlier one stays cancelled

        def load(name, device, dtype):
            stop_load.clear()
            cancel_load = loading["cancel"] = threading.Event()
            done, result = threading.Event(), {}

            def work():
                try:
                    result["message"] = studio.load(name, device or None, dtype or None, cancelled=cancel_load.is_set)
                except Exception as e:  # noqa: BLE001 - shown on the tab by _guarded, from this handler
                    result["error"] = e
                finally:
                    done.set()

            threading.Thread(target=work, name="studio-load", daemon=True).start()
            started = time.monotonic()
            yield {model_msg: f"loading {name} ..."}
            while not done.wait(POLL):
                if stop_load.is_set():
                    cancel_load.set()
                    yield {model_msg: f"cancelled: {studio.loaded or 'no model is loaded'} (the load ends in the "
                                      "background, unused)"}
                    return
                yield {model_msg: f"loading {name} ... {time.monotonic() - started:.0f} s (Cancel keeps the loaded model)"}
            if "error" in result:
                raise result["error"]
            yield {model_msg: result["message"]}

        load_btn.click(_guarded(model_msg, load), [model_box, device_box, dtype_box], [model_msg],
                                    concurrency_id="pipe")
        _cancel_button(load_stop, stop_load)

        # ---- Mix -------------------------------------------------------------------------------
        def hub_list(pattern):
            found = studio.hub_presets(pattern)
            choices = registry + found
            yield {mix_msg: f"{len(found)} preset repo(s) on the Hub" + (": " + ", ".join(found) if found else ""),
                   **{r: gr.update(choices=choices) for r in refs}}

        hub_btn.click(_guarded(mix_msg, hub_list), [hub_pattern], [mix_msg, *refs])

        stop_mix = threading.Event()

        def mix(text, w, t0, t1, ident, s, n, px, *slot_values):
            stop_mix.clear()
            slots = list(zip(slot_values[:SLOTS], slot_values[SLOTS:]))
            video_model = studio.video()
            shown: list[Any] = []
            total = 2 if video_model else len(SWEEP) + 1  # the baseline, the styled image, the rest of the sweep
            for i, (what, picture) in enumerate(studio.mix(text, slots, scale=w, start=t0, stop=t1, identity=ident,
                                                            seed=int(s or 0), steps=int(n or 1), size=px or None,
                                                            sweep=not video_model)):
                if stop_mix.is_set():
                    yield {mix_msg: f"cancelled after {i} of {total}"}
                    return
                update = {mix_msg: f"{what}: {'video' if video_model else 'image'} {i + 1} of {total}"}
                if video_model:
                    path = studio.write_video(picture, f"mix-{what}.mp4")
                    update.update({video: gr.update(value=str(path), visible=True),
                                   frames: gr.update(value=picture[:: max(1, len(picture) // 8)], visible=True)})
                    picture = picture[0]
                if what == "baseline":
                    update[baseline_img] = picture
                elif what == "styled":
                    update[styled_img] = picture
                    shown = [(picture, "u x1")]
                    update[sweep] = shown
                else:
                    shown = shown[:-1] + [(picture, what)] + shown[-1:]
                    update[sweep] = shown
                yield update
                if stop_mix.is_set():  # before the next image is asked for
                    yield {mix_msg: f"cancelled after {i + 1} of {total}"}
                    return
            yield {mix_msg: f"done: baseline, styled{'' if video_model else ' and the sweep'} (seed {int(s or 0)})"}

        mix_btn.click(_guarded(mix_msg, mix), [prompt, scale, start, stop, identity, seed, steps, size,
                                                            *refs, *sliders],
                                  [mix_msg, baseline_img, styled_img, sweep, video, frames], concurrency_id="pipe")
        _cancel_button(mix_stop, stop_mix)

        # ---- Atlas -----------------------------------------------------------------------------
        stop_atlas = threading.Event()

        def render(text, w, u, layers, s, n, px):
            stop_atlas.clear()
            # The CLI's atlas layout: one row per layer, the unguided image first in every row for reference
            shown, heads, unguided, layer = [], [], None, None
            every = studio.heads()
            width = 1 + max(sum(1 for l, _ in every if l == k) for k, _ in every)
            yield {atlas: gr.update(value=[], columns=width), cells: [], pictures: []}
            for i, (head, picture) in enumerate(studio.atlas(text, seed=int(s or 0), scale=float(w), strength=float(u),
                                                             steps=int(n or 1), size=px or None, layers=layers)):
                if stop_atlas.is_set():
                    yield {atlas_msg: f"cancelled after {max(i - 1, 0)} heads of {len(every)}"}
                    return
                picture = picture[0] if isinstance(picture, list) else picture
                if head is None:
                    unguided = picture
                    continue
                if head[0] != layer:
                    layer = head[0]
                    if shown:
                        shown += [(unguided, "")] * ((width - len(shown) % width) % width)  # pad the last row
                        heads += [None] * (len(shown) - len(heads))
                    shown.append((unguided, f"L{layer} unguided"))
                    heads.append(None)
                shown.append((picture, f"L{head[0]} h{head[1]}"))
                heads.append(list(head))
                yield {atlas: shown, cells: heads, pictures: [x for x, _ in shown], atlas_msg: f"head {i} of {len(every)}"}
                if stop_atlas.is_set():  # before the next image is asked for
                    yield {atlas_msg: f"cancelled after {i} heads of {len(every)}"}
                    return
            done = sum(h is not None for h in heads)
            yield {atlas_msg: f"{done} heads: click a cell to see it and add it to the ad-hoc preset"}

        atlas_btn.click(_guarded(atlas_msg, render), [a_prompt, a_scale, a_strength, a_layers, a_seed,
                                                                      a_steps, a_size],
                                      [atlas, cells, pictures, atlas_msg], concurrency_id="pipe")
        _cancel_button(atlas_stop, stop_atlas)

        def pick(heads, images, evt: gr.SelectData):
            index = evt.index if isinstance(evt.index, int) and 0 <= evt.index < len(heads) else None
            if index is None:
                return None, ""
            head = heads[index]
            return images[index], "unguided" if head is None else f"{head[0]}:{head[1]}"

        atlas.select(pick, [cells, pictures], [cell_img, cell_label])

        def add(label, current):
            if not label or label == "unguided":
                yield {atlas_msg: "**Error:** choose a head cell first (the first cell is the unguided image)"}
                return
            have = [h for h in (current or "").split(",") if h.strip()]
            if label not in have:
                have.append(label)
            yield {adhoc: ",".join(have), atlas_msg: f"ad-hoc preset: {len(have)} head(s)"}

        add_btn.click(_guarded(atlas_msg, add), [cell_label, adhoc], [adhoc, atlas_msg])

        def save(current, name, w, u):
            heads = []
            for part in (current or "").split(","):
                layer, sep, head = part.strip().partition(":")
                if part.strip() and (not sep or not layer.isdigit() or not head.isdigit()):
                    raise StylehuntError(f"{part.strip()!r} is not LAYER:HEAD", hint="write the heads as 0:1,1:3")
                if part.strip():
                    heads.append((int(layer), int(head)))
            path = studio.save_preset(heads, name, strength=float(u), scale=float(w))
            yield {atlas_msg: f"saved {path.name} in the output folder (use it as a preset: {path.name})"}

        save_btn.click(_guarded(atlas_msg, save), [adhoc, save_name, a_scale, a_strength], [atlas_msg])

        # ---- Search ----------------------------------------------------------------------------
        def watch(job: SearchJob, total):
            import pandas as pd

            jobs[str(job.run_dir)] = job
            job.start()
            seen, pictures = 0, []
            while True:
                running = job.running
                points, images = read_rounds(job.run_dir)
                update = {search_msg: ("running: " if running else "") + describe(points, images, total)}
                if len(points) > seen:
                    update[curve] = pd.DataFrame({"round": [p.round for p in points], "score": [p.score for p in points]})
                    for p in points[seen:]:
                        pictures.append((_best_image(studio, job, p), f"round {p.round}: {p.score:.4f}"))
                    seen = len(points)
                    update[best] = [x for x in pictures if x[0] is not None]
                yield update
                if not running:
                    break
                time.sleep(POLL)
            ended = job.outcome()
            figures = result_images(job.run_dir)
            yield {search_msg: f"{ended} ({describe(points, images, total)})",
                   **({best: [x for x in pictures if x[0] is not None] + figures} if figures else {})}

        def start_search(run, obj, strat, sty, lines, r, k, n, px):
            if not studio.model:
                raise StylehuntError("no model is loaded", hint="load the model to search on the Model tab first")
            job = SearchJob.new(studio.folders, env, run=run, model=studio.model_source(studio.model), objective=obj,
                                style=sty, prompts=lines, rounds=int(r or 1), per_round=int(k or 1), strategy=strat,
                                steps=int(n or 1), resolution=px or None, device=studio.device, dtype=studio.dtype)
            yield from watch(job, int(r or 1))

        def resume_search(run):
            from ..headhunter.command import read_command

            job = SearchJob.resume(studio.folders, env, run)
            record = read_command(job.run_dir)
            yield from watch(job, record.settings.rounds if record else None)

        def stop_search(run):
            for job in list(jobs.values()):
                if job.running and job.run_dir == studio.folders.inside(run, root="runs", what="run folder"):
                    job.stop()
                    yield {search_msg: "stopping after the image being made ..."}
                    return
            yield {search_msg: f"no search of this studio is running in {run!r}"}

        search_inputs = [run_name, objective, strategy, style, prompts, rounds, per_round, s_steps, s_size]
        search_btn.click(_guarded(search_msg, start_search), search_inputs, [search_msg, curve, best])
        resume_btn.click(_guarded(search_msg, resume_search), [run_name], [search_msg, curve, best])
        search_stop.click(_guarded(search_msg, stop_search), [run_name], [search_msg])

        # ---- Publish ---------------------------------------------------------------------------
        stop_plan = threading.Event()

        def plan(file, repo, version, name, text, with_previews, token, n, px):
            stop_plan.clear()
            pictures = []
            if with_previews:
                yield {publish_msg: "rendering the preview pair: image 1 of 2 ..."}
                for picture in studio.previews(file, text, seed=0, steps=int(n or 1), size=px or None):
                    if stop_plan.is_set():
                        yield {publish_msg: "cancelled: nothing was prepared"}
                        return
                    pictures.append(picture)
                    yield {publish_msg: f"rendering the preview pair: {len(pictures)} of 2 done"}
                    if stop_plan.is_set():  # before the second image is asked for
                        yield {publish_msg: "cancelled: nothing was prepared"}
                        return
            result = studio.publish(file, repo, version=version, name=name, previews=pictures, prompt=text,
                                    token=token, dry_run=True)
            yield {p_ref: result.reference, p_card: result.card, p_gallery: [(str(p), p.name) for p in pictures], planned: [file, repo, version, name, [str(p) for p in pictures], text],
                   publish_msg: f"ready: {result.name} {result.version} to {result.repo_id} (tag {result.tag}), "
                                f"{len(result.files)} files; tick the confirmation, then Publish",
                   p_confirm: False}

        plan_btn.click(_guarded(publish_msg, plan), [p_file, p_repo, p_version, p_name, p_prompt, p_previews, p_token,
                                                       steps, size],
                       [p_ref, p_card, p_gallery, planned, publish_msg, p_confirm], concurrency_id="pipe")
        _cancel_button(plan_stop, stop_plan)

        def publish(confirmed, plan_args, file, repo, version, name, token):
            from pathlib import Path

            if not plan_args:
                raise StylehuntError("nothing prepared to publish", hint="press Prepare first and read the card")
            if plan_args[:4] != [file, repo, version, name]:
                raise StylehuntError("the fields changed since Prepare", hint="press Prepare again")
            if not confirmed:
                raise StylehuntError("publishing needs your confirmation", hint="tick the confirmation box, then Publish")
            yield {publish_msg: "publishing ..."}
            result = studio.publish(file, repo, version=version, name=name, previews=[Path(p) for p in plan_args[4]],
                                    prompt=plan_args[5], token=token, dry_run=False)
            yield {publish_msg: f"published {result.name} {result.version} to {result.url} (commit {result.commit}, "
                                f"tag {result.tag}); load it as `{result.reference}`", p_confirm: False, p_ref: result.reference}

        publish_btn.click(_guarded(publish_msg, publish), [p_confirm, planned, p_file, p_repo, p_version, p_name, p_token],
                          [publish_msg, p_confirm, p_ref])
    page.queue(default_concurrency_limit=1)
    page.studio_jobs = jobs  # stopped when the server stops (launch.py)
    return page


def _best_image(studio: Studio, job: SearchJob, point: Any) -> Any:
    """The round's head set on the studio's pipeline (first prompt, seed 0), when the search runs on that model."""
    from ..headhunter.command import read_command
    from ..registry import Preset

    record = read_command(job.run_dir)
    if record is None or studio.pipe is None or record.inputs.get("model") != studio.model_source(studio.model or ""):
        return None
    settings = record.settings
    lines = [p for p in _prompts(studio, record.inputs) if p.strip()] or ["a lighthouse at dusk"]
    preset = Preset(heads=list(point.heads), strength=settings.strength)
    image = studio.draw(lines[0], 0, settings.steps, settings.height, dict(presets=[preset], scale=settings.scale))
    return image[0] if isinstance(image, list) else image


def _prompts(studio: Studio, inputs: Mapping[str, Any]) -> list[str]:
    """The run's prompt file when it lies in the studio's folders (a CLI run may name any file: not read)."""
    from pathlib import Path

    source = inputs.get("prompts")
    path = Path(source).resolve() if isinstance(source, str) else None
    if path is not None and path.suffix == ".txt" and studio.folders.within(path) and path.is_file():
        return path.read_text(encoding="utf-8").splitlines()
    return []
