"""Preset files bundled with stylehunt (``<alias>/<slug>/<version>/stylehunt_preset.json``); data only."""
