"""Engines run the build's stage functions: in-process (a worker pool, :mod:`.local`) or on Ray
Data (:mod:`.ray_data`); both yield embedded batches in input order."""
