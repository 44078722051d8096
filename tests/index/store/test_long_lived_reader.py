"""A reader opened before rebuilds keeps answering, from the one version it loaded."""

from __future__ import annotations

import threading

from sfxkit.index.build import build_index
from sfxkit.index.store import load_index
from sfxkit.recommender import Recommender
from tests import synth
from tests.index.store.helpers import small_library


def test_a_reader_looping_while_six_versions_commit_never_fails(tmp_path):
    lib = small_library(tmp_path / "lib", n=3)
    out = tmp_path / "idx"
    build_index(lib, out, models="tiny", progress=False)
    first = load_index(out)
    v1_ids = set(first.rows["id"])
    v1_paths = dict(zip(first.rows["id"], first.rows["path"], strict=True))
    reader = Recommender(out)  # opened now, queried only after two rebuilds have cleaned up
    two_built = threading.Event()
    done = threading.Event()
    answers: list[list[tuple[str, float]]] = []
    errors: list[BaseException] = []

    def loop() -> None:
        two_built.wait(timeout=300)
        while True:
            try:
                for query in (
                    lambda: reader.recommend_text("rain", k=10),
                    lambda: reader.recommend_text("rain", k=10, filters={"max_duration": 60}),
                    lambda: reader.recommend(synth.draw_frame("red", 64), k=10),
                ):
                    answers.append([(r.id, round(r.score, 5)) for r in query()])
                    assert all(v1_paths[r.id] == r.path for r in query())
            except BaseException as exc:  # noqa: BLE001  (collected for the assertion)
                errors.append(exc)
            if done.is_set():
                return

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        for n in range(6):
            synth.write_audio(lib / f"extra_{n}.wav", synth.noise(0.7, seed=200 + n))
            build_index(lib, out, models="tiny", progress=False)
            if n == 1:
                two_built.set()
    finally:
        two_built.set()
        done.set()
        thread.join(timeout=300)
    assert not errors, errors[:3]
    assert load_index(out).version == 7 and len(load_index(out).rows) == 9
    assert not (out / "versions" / "v000001").exists()  # its files were deleted under it
    assert len(answers) >= 3
    # every answer comes from version 1: its three items, with the same scores every time
    assert all({i for i, _ in a} == v1_ids for a in answers)
    by_query = [answers[i::3] for i in range(3)]
    for same_query in by_query:
        assert all(a == same_query[0] for a in same_query)
