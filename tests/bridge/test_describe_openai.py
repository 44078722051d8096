"""OpenAI-compatible describer against a real HTTP server on loopback: cache, retries, timeouts,
and nothing half-written when the endpoint fails."""

from __future__ import annotations

import socket

import pytest

from sfxkit.catalog.describe import (
    DEFAULT_PROMPT,
    DescriberError,
    OpenAIDescriber,
    PromptTemplate,
)
from sfxkit.catalog.describe.cache import ResponseCache
from sfxkit.catalog.schema import CatalogItem
from sfxkit.index.maintain import describe_index

pytestmark = pytest.mark.network


def _items(n: int = 3) -> list[CatalogItem]:
    titles = ["Door slam heavy", "Rain on roof", "Dog bark distant", "Glass break", "Car pass by"]
    return [
        CatalogItem(id=f"{i:016x}", path=f"/lib/{i}.wav", title=titles[i], category="TEST")
        for i in range(n)
    ]


def _describer(server, tmp_path, **kw) -> OpenAIDescriber:
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.0)
    kw.setdefault("timeout", 5.0)
    return OpenAIDescriber(server.url, "llama3.2", cache=tmp_path / "cache.sqlite3", **kw)


def test_answers_are_cleaned_and_a_rerun_costs_no_call(chat_server, tmp_path):
    first = _describer(chat_server, tmp_path).describe(_items(), n=3)
    assert chat_server.calls == 3
    assert first[0] == [
        "A close view of door slam heavy in a kitchen",
        "Someone handling door slam heavy outdoors",  # quotes and numbering stripped
        "A wide shot of door slam heavy at night",
    ]
    # A new describer (a new process, as far as it knows) over the same cache file.
    again = _describer(chat_server, tmp_path)
    assert again.describe(_items(), n=3) == first
    assert chat_server.calls == 3, "the cached answers must not be asked for again"
    assert again.stats.cache_hits == 3 and again.stats.calls == 0
    # The request follows the protocol: model, system + user messages, no streaming.
    body = chat_server.bodies[0]
    assert body["model"] == "llama3.2" and body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_cache_key_includes_model_prompt_version_and_input(chat_server, tmp_path):
    _describer(chat_server, tmp_path).describe(_items(2), n=3)
    assert chat_server.calls == 2
    v2 = PromptTemplate("p2", DEFAULT_PROMPT.system, DEFAULT_PROMPT.user)
    _describer(chat_server, tmp_path, prompt=v2).describe(_items(2), n=3)
    assert chat_server.calls == 4, "a new prompt version must not reuse old answers"
    other = OpenAIDescriber(chat_server.url, "qwen2.5", cache=tmp_path / "cache.sqlite3",
                            backoff=0.0)  # fmt: skip
    other.describe(_items(2), n=3)
    assert chat_server.calls == 6, "another model must not reuse old answers"
    _describer(chat_server, tmp_path).describe(_items(3), n=3)
    assert chat_server.calls == 7, "only the new item is asked for"
    assert len(ResponseCache(tmp_path / "cache.sqlite3")) == 7


def test_transient_failures_are_retried(chat_server, tmp_path):
    chat_server.fail_first = 2
    out = _describer(chat_server, tmp_path, retries=2).describe(_items(1), n=2)
    assert chat_server.calls == 3
    assert out[0][0].startswith("A close view of door slam heavy")


def test_endpoint_failing_gives_a_clear_error_after_bounded_retries(chat_server, tmp_path):
    chat_server.mode = "fail"
    with pytest.raises(DescriberError) as err:
        _describer(chat_server, tmp_path, retries=2).describe(_items(2), n=2)
    assert chat_server.calls == 3, "1 try + 2 retries, then give up (and not go on to item 2)"
    msg = str(err.value)
    assert chat_server.url in msg and "503" in msg and "3 attempt" in msg


def test_endpoint_down_names_the_url_and_the_fix(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = OpenAIDescriber(f"http://127.0.0.1:{port}/v1", "llama3.2", retries=1, backoff=0.0,
                        cache=tmp_path / "c.sqlite3")  # fmt: skip
    with pytest.raises(DescriberError) as err:
        d.describe(_items(1))
    msg = str(err.value)
    assert f"127.0.0.1:{port}" in msg and "cannot connect" in msg and "start the server" in msg


def test_slow_endpoint_times_out(chat_server, tmp_path):
    chat_server.mode = "slow"
    chat_server.delay = 1.5
    with pytest.raises(DescriberError) as err:
        _describer(chat_server, tmp_path, retries=1, timeout=0.3).describe(_items(1))
    assert "no answer within 0.3 s" in str(err.value)
    assert chat_server.calls == 2
    assert len(ResponseCache(tmp_path / "cache.sqlite3")) == 0, "a timed-out answer is not cached"


def test_client_errors_are_not_retried(chat_server, tmp_path):
    chat_server.mode = "notfound"
    with pytest.raises(DescriberError) as err:
        _describer(chat_server, tmp_path, retries=3).describe(_items(1))
    assert chat_server.calls == 1
    assert "HTTP 404" in str(err.value) and "llama3.2" in str(err.value)


def test_empty_answers_fall_back_to_the_template(chat_server, tmp_path):
    chat_server.mode = "junk"
    d = _describer(chat_server, tmp_path)
    out = d.describe(_items(1), n=3)
    assert out == [[
        "a photo of a heavy door being slammed shut",
        "a close-up of a heavy door being slammed shut",
        "a scene with a heavy door being slammed shut",
    ]]  # fmt: skip
    assert d.stats.fallbacks == 1


def test_failed_describe_leaves_the_index_and_cache_whole(chat_server, index_copy, tmp_path):
    from sfxkit.index.store import IndexStore, load_index

    before = load_index(index_copy, views=[])
    chat_server.fail_first = 0
    d = _describer(chat_server, tmp_path, retries=0)
    # The first two items are answered, then the endpoint starts failing.
    original = chat_server.httpd.RequestHandlerClass.do_POST

    def flaky(handler):
        if chat_server.calls >= 2:
            chat_server.mode = "fail"
        return original(handler)

    chat_server.httpd.RequestHandlerClass.do_POST = flaky
    with pytest.raises(DescriberError):
        describe_index(index_copy, d, n=3)
    store = IndexStore(index_copy)
    assert store.manifest().version == before.version, "no new version on failure"
    assert store.verify() == []
    after = load_index(index_copy, views=[])
    as_lists = [list(x) for x in after.rows["visual_descriptions"]]
    assert as_lists == [list(x) for x in before.rows["visual_descriptions"]]
    assert len(ResponseCache(tmp_path / "cache.sqlite3")) == 2, "only the complete answers"

    # With the endpoint back, a rerun asks only for what is missing and commits a version.
    chat_server.mode = "ok"
    chat_server.httpd.RequestHandlerClass.do_POST = original
    calls = chat_server.calls
    report = describe_index(index_copy, _describer(chat_server, tmp_path), n=3)
    assert chat_server.calls - calls == before.manifest.row_count - 2
    assert report.version == before.version + 1 and report.changed == before.manifest.row_count
    idx = load_index(index_copy, views=[])
    assert idx.manifest.get("describer")["spec"]["kind"] == "openai"
    assert idx.manifest.get("describer")["prompt"]["version"] == DEFAULT_PROMPT.version
    assert all(tag.startswith("openai:llama3.2/p1.") for tag in idx.rows["describer"])
    assert "calibration" not in idx.manifest.raw


def test_rebuild_keeps_using_the_recorded_describer(chat_server, tiny_index, sfx_library, tmp_path):
    import shutil

    from sfxkit.index.build import build_index
    from sfxkit.index.store import load_index
    from tests import synth

    library = tmp_path / "library"
    shutil.copytree(sfx_library, library)
    index = tmp_path / "index"
    build_index(library, index, models="tiny", progress=False)
    describe_index(index, _describer(chat_server, tmp_path), n=3)
    described = load_index(index, views=[])
    calls = chat_server.calls
    synth.write_audio(library / "new" / "bell_ring.wav", synth.tone(880, 1.0))
    build_index(library, index, models="tiny", progress=False)
    assert chat_server.calls == calls + 1, "only the new sound is described, by the same model"
    idx = load_index(index, views=[])
    assert set(idx.rows["describer"]) == set(described.rows["describer"])
    bell = idx.rows[idx.rows["path"].str.endswith("bell_ring.wav")].iloc[0]
    assert "bell ring" in bell["visual_description"]
    assert idx.manifest.get("describer")["spec"]["base_url"] == chat_server.url


def test_concurrent_requests_keep_the_item_order(chat_server, tmp_path):
    d = _describer(chat_server, tmp_path, workers=3)
    out = d.describe(_items(5), n=1)
    assert chat_server.calls == 5
    titles = ["door slam heavy", "rain on roof", "dog bark distant", "glass break", "car pass by"]
    assert [o[0] for o in out] == [f"A close view of {t} in a kitchen" for t in titles]
