"""FLUX 3 (``Flux3Transformer2DModel``): per-mode blocks (text, image, reference image), then joint single blocks.

Driven through diffusers' modular pipelines only (``Flux3ModularPipeline``, and the step-distilled
``Flux3DistilledModularPipeline``): presets reach it as the guider ``StyleHeadGuidance``, or by
``stylehunt.apply`` on the modular pipeline. Address order, grid and the reasons for each choice sit
beside the fields below (and in ``docs/engine.md``).
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="flux3",
    min_diffusers="0.42",  # Flux3Transformer2DModel and its modular pipelines first ship in diffusers 0.42
    transformer_classes=("Flux3Transformer2DModel",),
    # the modular pipelines: the guider's batches run cond first and uncond second, combined affinely
    # (ClassifierFreeGuidance), so the term added to the transformer's output reaches the scheduler exactly
    pipeline_classes=("Flux3ModularPipeline", "Flux3DistilledModularPipeline"),
    # the order the forward runs them: the text mode blocks, the image mode blocks, the reference-image
    # mode blocks (run only with image_cond_hidden_states), then the single blocks over [text, image,
    # reference image]. Class default: 5 + 5 + 5 + 28 layers x 24 heads of dim 128. A mode block
    # attends within its own mode only, so a text mode layer's tokens are all text ("text") and an
    # image mode layer's all image ("image"). No block_rows (the shared prefix is off): the text and
    # image streams run in separate blocks, so a perturbed row joining at an image block would lack
    # its text stream, which no argument of that block carries
    layer_groups=(
        LayerGroup("txt_mode_blocks", kind="text"),
        LayerGroup("mode_blocks.image", kind="image"),
        LayerGroup("mode_blocks.image_cond", kind="image"),
        LayerGroup("single_transformer_blocks", kind="text_image"),
    ),
    # img_ids / txt_ids / image_cond_ids are (S, 4): one position grid shared by every row, not appended
    batched=("hidden_states", "encoder_hidden_states", "timestep", "image_cond_hidden_states", "target_timestep"),
    cfg="separate",
    # no modular pipeline has encode_prompt in the standard-pipeline sense: the search does not drive it
    encode_negative="separate",
    # rows are counted where the text enters (every row has text; the image embedders are a ModuleDict)
    input_embedder="context_embedder",
    latent_packing=2,  # the pipelines pack 2 x 2 latents into one token (in_channels = latent_channels x 4)
)
