"""Media I/O: decode audio (soundfile, soxr, PyAV), frames and video (PyAV), loudness, shots, mux.

Submodules import their heavy dependencies lazily; importing ``sfxkit.media`` is cheap.
"""
