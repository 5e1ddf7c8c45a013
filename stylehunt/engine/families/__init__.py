"""One module per transformer family: what the engine must know about it (filled in by the adapters)."""
