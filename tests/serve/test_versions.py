"""The service moves to a newly committed version between requests, without a restart."""

from __future__ import annotations

from sfxkit.index.build import build_index
from sfxkit.recommender import Recommender
from tests import synth
from tests.serve.conftest import HEADERS


def test_a_rebuild_is_served_at_the_next_request(client, world):
    def everything() -> dict:
        r = client.post("/api/recommend/text", data={"text": "a bell", "k": "100"}, headers=HEADERS)
        assert r.status_code == 200, r.text
        return r.json()

    before = everything()
    synth.write_audio(world.library / "bells" / "bell_ring.wav", synth.tone(880, 1.2))
    build_index(world.library, world.index, models="tiny", progress=False)
    after = everything()
    assert after["index_version"] == before["index_version"] + 1
    new_ids = {r["id"] for r in after["results"][0]["recommendations"]}
    old_ids = {r["id"] for r in before["results"][0]["recommendations"]}
    assert new_ids - old_ids == set(Recommender(world.index).index.rows["id"]) - old_ids
    assert any(r["title"] == "bell ring" for r in after["results"][0]["recommendations"])
    assert client.get("/api/index").json()["index_version"] == after["index_version"]
