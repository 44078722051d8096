"""16 clients on loopback mixing frame, text and audio queries while a rebuild commits."""

from __future__ import annotations

import json
import threading

import pytest

from sfxkit.index.build import build_index
from sfxkit.recommender import Recommender
from sfxkit.serve import create_app
from sfxkit.serve.loadtest import hammer, percentiles, run_server
from tests import synth
from tests.serve.conftest import catalog_audio, free_port, png_bytes


@pytest.mark.slow
@pytest.mark.network
def test_sixteen_clients_across_a_rebuild(world, tmp_path):
    image = png_bytes("checker")
    sound = catalog_audio(world).read_bytes()
    ids_of = {}
    rec = Recommender(world.index)
    ids_of[rec.manifest.version] = set(rec.index.rows["id"])
    requests = {
        "frame": lambda c: c.post(
            "/api/recommend/frame", files={"image": ("f.png", image)}, data={"k": "3"}
        ),
        "text": lambda c: c.post("/api/recommend/text", data={"text": "a gong", "k": "100"}),
        "audio": lambda c: c.post(
            "/api/recommend/audio", files={"audio": ("a.wav", sound)}, data={"k": "3"}
        ),
    }
    rebuilt = threading.Event()

    def rebuild() -> None:
        synth.write_audio(world.library / "gongs" / "gong_hit.wav", synth.tone(150, 1.5))
        build_index(world.library, world.index, models="tiny", progress=False)
        rebuilt.set()

    with run_server(create_app(world.index), free_port(), timeout=240) as url:
        builder = threading.Timer(1.0, rebuild)
        builder.start()
        answers = hammer(
            url, requests, clients=16, seconds=4.0, keep_going=lambda: not rebuilt.is_set()
        )
        builder.join()
        # and a little after the commit, so that answers from the new version are seen
        answers += hammer(url, requests, clients=16, seconds=1.5)
    new = Recommender(world.index)
    ids_of[new.manifest.version] = set(new.index.rows["id"])

    errors = [a for a in answers if a.status != 200]
    assert not errors, errors[:3]
    assert {a.version for a in answers} == set(ids_of)  # both versions were served
    for a in answers:
        ids = set(a.ids)
        assert ids <= ids_of[a.version]
        if a.kind == "text":  # k covers the catalog: exactly that version's items
            assert ids == ids_of[a.version]
    stats = {"answers": len(answers), "clients": 16, **percentiles(answers)}
    (tmp_path / "load.json").write_text(json.dumps(stats))
    print("load test:", stats)
