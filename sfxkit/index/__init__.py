"""The index stage: the versioned store (manifest, lock, :class:`~sfxkit.index.store.LoadedIndex`),
FAISS views and presets, the build, the operations that derive a new version from an existing one,
and the engines that run the build's stage functions (in-process pool or Ray Data).

    store    sfxkit.index.store           versions, manifest, lock, IndexStore, load_index
    views    sfxkit.index.views           VectorIndex (FAISS), presets, choose_preset
    tune     sfxkit.index.tune            build-time recall tuning of approximate views
    build    sfxkit.index.build           build_index: decode, measure, describe, embed, commit
    derive   sfxkit.index.derive          commit_derived_version: describe/categorize/bridge ops
    engines  sfxkit.index.engines         stage functions, the local pool, Ray Data

Importing this package is cheap: FAISS, torch and pyarrow load inside the functions that use them.
"""
