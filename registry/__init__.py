"""The bundled registry catalogue, ``index.json``; data only (the code is ``stylehunt.registry``)."""
