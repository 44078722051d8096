"""Automatic categorisation: labels from metadata train a classifier; predictions never overwrite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sfxkit.catalog.categorize import categorize_items, evaluate, label_of
from sfxkit.catalog.describe import TemplateDescriber
from sfxkit.catalog.schema import CatalogItem
from tests import synth

CATS = {
    "DOORWood": ("DOORS", "WOOD"),
    "RAIN": ("RAIN", "GENERAL"),
    "GUNAuto": ("GUNS", "AUTOMATIC"),
}


def _clusters(n_per: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(CATS), 64))
    vecs, labels = [], []
    for c, catid in zip(centres, CATS, strict=True):
        vecs.append(c + 0.3 * rng.standard_normal((n_per, 64)))
        labels += [catid] * n_per
    return np.vstack(vecs).astype(np.float32), labels


def _item(i: int, **kw) -> CatalogItem:
    return CatalogItem(id=f"{i:016x}", path=f"/lib/{i}.wav", **kw)


def test_leave_one_out_beats_the_majority_baseline():
    for method, n_per in (("knn", 10), ("logreg", 5)):
        vecs, labels = _clusters(n_per)
        ev = evaluate(vecs, labels, method)
        assert ev.top1 > 0.9 and ev.top3 == 1.0 and ev.protocol == "leave-one-out"
        assert ev.majority_baseline < 0.4
    vecs, labels = _clusters(10)
    # the same labels on vectors that carry no information do no better than chance
    noise = np.random.default_rng(1).standard_normal(vecs.shape).astype(np.float32)
    assert evaluate(noise, labels, "knn").top1 < 0.6


def test_predictions_fill_only_items_without_a_category():
    vecs, labels = _clusters(8)
    items = []
    for i, catid in enumerate(labels):
        cat, sub = CATS[catid]
        if i % 8 == 0:  # one per class without metadata: the classifier must find it
            items.append(_item(i, title=f"hit{i}"))
        elif i % 8 == 1:  # a folder name that is not a UCS category is kept, a prediction added
            items.append(_item(i, title=f"take {i}", category="Library Two"))
        else:
            items.append(_item(i, title=f"take {i}", category=cat, subcategory=sub))
    result = categorize_items(items, vecs, min_labelled=6)
    assert result.labelled == len(items) - 6 and result.predicted == 6
    for before, after, catid in zip(items, result.items, labels, strict=True):
        assert (after.category, after.subcategory) == (before.category, before.subcategory)
        if label_of(before):
            assert after.predicted_catid == ""
        else:
            assert after.predicted_catid == catid
            assert (after.predicted_category, after.predicted_subcategory) == CATS[catid]
            assert 0.5 < after.predicted_confidence <= 1.0


def test_too_few_labels_predict_nothing():
    vecs, labels = _clusters(3)
    items = [_item(i, title="x") for i in range(len(labels))]
    items[0] = _item(0, ucs_catid="DOORWood", category="DOORS", subcategory="WOOD")
    result = categorize_items(items, vecs)
    assert result.predicted == 0 and "1 labelled item" in result.skipped_reason
    assert all(not it.predicted_catid for it in result.items)


def test_a_library_labelled_only_with_ucs_categories_gets_category_predictions():
    vecs, labels = _clusters(8)
    top = {"DOORWood": "DOORS", "RAIN": "RAIN", "GUNAuto": "GUNS"}
    items = [
        _item(i, title="x") if i % 8 == 0 else _item(i, title="x", category=top[catid].lower())
        for i, catid in enumerate(labels)
    ]
    result = categorize_items(items, vecs)
    assert result.level == "category" and not result.skipped_reason
    assert (result.labelled, result.predicted, result.classes) == (21, 3, 3)
    assert "UCS Category level" in result.summary()
    assert result.record("sfx_audio", "logreg")["level"] == "category"
    for i, (after, catid) in enumerate(zip(result.items, labels, strict=True)):
        if i % 8 == 0:  # predicted at the level it learnt: the UCS Category, no CatID invented
            assert (after.predicted_category, after.predicted_catid) == (top[catid], "")
            assert after.predicted_subcategory == "" and after.predicted_confidence > 0.5
        else:
            assert after.predicted_category == "" and after.category == top[catid].lower()


def test_a_library_with_its_own_category_words_learns_those():
    vecs, labels = _clusters(8)
    own = {"DOORWood": "Doors & Hinges", "RAIN": "Weather", "GUNAuto": "Weapons"}
    items = [
        _item(i, title="x") if i % 8 == 0 else _item(i, title="x", category=own[catid])
        for i, catid in enumerate(labels)
    ]
    # three items also carry a UCS CatID: the library's own column still labels more items
    for i in (1, 9, 17):
        items[i] = _item(i, title="x", ucs_catid=labels[i], category=own[labels[i]])
    result = categorize_items(items, vecs)
    assert result.level == "library" and result.labelled == 21
    predicted = {
        labels[i]: it.predicted_category for i, it in enumerate(result.items) if i % 8 == 0
    }
    assert predicted == {c: own[c] for c in CATS}
    too_few = categorize_items(items[:10], vecs[:10])
    assert too_few.predicted == 0 and "own category" in too_few.skipped_reason


def test_describer_uses_predictions_and_ucs_explanations():
    d = TemplateDescriber()
    plain = _item(1, title="hit3")
    assert d.phrase(plain) == "hit3"
    predicted = _item(
        1,
        title="hit3",
        predicted_catid="DOORWood",
        predicted_category="DOORS",
        predicted_subcategory="WOOD",
        predicted_confidence=0.8,
    )
    assert d.phrase(predicted) == "a wooden door being hit"
    unsure = _item(
        1,
        title="hit3",
        predicted_catid="DOORWood",
        predicted_category="DOORS",
        predicted_subcategory="WOOD",
        predicted_confidence=0.2,
    )
    assert d.phrase(unsure) == "hit3"
    # the user's own category wins over a prediction
    own = _item(
        1,
        title="hit3",
        category="GUNS",
        subcategory="AUTOMATIC",
        predicted_catid="DOORWood",
        predicted_category="DOORS",
        predicted_subcategory="WOOD",
        predicted_confidence=0.9,
    )
    assert "door" not in d.phrase(own)
    # nothing visual in the title or category words: UCS's explanation says what one would see
    hiss = _item(
        1,
        title="SFX 0042",
        predicted_catid="AIRHiss",
        predicted_category="AIR",
        predicted_subcategory="HISS",
        predicted_confidence=0.9,
    )
    assert d.describe([hiss], n=1)[0][0] == "a photo of a flat tire"


def _labelled_library(root: Path) -> Path:
    """UCS-named tones and noises, plus two badly named files of each kind."""
    for i in range(6):
        synth.write_audio(
            root / f"ALRMBell_Bell Ring {i}_AB_Lib.wav", synth.tone(700 + 90 * i, 1.0)
        )
        synth.write_audio(
            root / f"RAIN_Rain Steady {i}_AB_Lib.wav", synth.noise(1.0, band=(1500, 9000), seed=i)
        )
    synth.write_audio(root / "hit3.wav", synth.tone(950, 1.0))
    synth.write_audio(root / "SFX_0042.wav", synth.noise(1.0, band=(1500, 9000), seed=40))
    return root


@pytest.fixture(scope="module")
def labelled_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sfxkit.index.build import build_index

    root = tmp_path_factory.mktemp("cat")
    out = root / "idx"
    build_index(_labelled_library(root / "lib"), out, models="tiny", progress=False)
    return out


def test_categorize_index_on_demand(labelled_index):
    from sfxkit.index.maintain import categorize_index
    from sfxkit.index.store import load_index

    before = load_index(labelled_index, views=[])
    # the tiny CLAP view stands in for aiSFX here: its vectors still separate tones from noise
    report = categorize_index(labelled_index, view="clap_audio")
    assert report.version == before.version + 1 and report.untrained
    assert (report.labelled, report.predicted, report.classes) == (12, 2, 2)
    after = load_index(labelled_index, views=[])
    rows = after.rows.set_index("title")
    assert rows.loc["hit3", "predicted_category"] == "ALARMS"
    assert rows.loc["SFX 0042", "predicted_catid"] == "RAIN"
    assert rows.loc["hit3", "category"] == "" and rows.loc["SFX 0042", "category"] == ""
    labelled = after.rows[after.rows["ucs_catid"] != ""]
    assert (labelled["predicted_catid"] == "").all()
    assert (
        labelled["category"].to_numpy()
        == before.rows.set_index("id").loc[labelled["id"], "category"].to_numpy()
    ).all()
    # their descriptions now say what they sound like, and clip_text was re-embedded
    assert "rain" in rows.loc["SFX 0042", "visual_description"]
    assert report.redescribed == 2
    i = after.rows.index[after.rows["title"] == "SFX 0042"][0]
    j = before.rows.index[before.rows["title"] == "SFX 0042"][0]
    assert not np.allclose(
        after.vectors("clip_text").vectors[i], before.vectors("clip_text").vectors[j]
    )
    ev = after.manifest.get("categorize")["evaluation"]
    assert ev["top1"] > ev["majority_baseline"]


@pytest.mark.slow
def test_cli_categorize_and_info(labelled_index, tmp_path):
    exe = Path(sys.executable).with_name("sfxkit")
    proc = subprocess.run(
        [str(exe), "index", "categorize", str(labelled_index)], capture_output=True, text=True
    )
    # the tiny index has no aiSFX view: a one-line error naming the fix, exit 2
    assert proc.returncode == 2
    assert "sfx_audio" in proc.stderr and "models pull aisfx" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run(
        [str(exe), "index", "categorize", str(labelled_index), "--view", "clap_audio", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["predicted"] == 2
    info = subprocess.run(
        [str(exe), "index", "info", str(labelled_index), "--json"], capture_output=True, text=True
    )
    summary = json.loads(info.stdout)
    assert summary["predicted_categories"] == {"ALARMS / BELL": 1, "RAIN / GENERAL": 1}
    assert summary["ucs"]["version"] == "8.2.1"
    text = subprocess.run(
        [str(exe), "index", "info", str(labelled_index)], capture_output=True, text=True
    ).stdout
    assert "predicted categories (from the sound, not your metadata)" in text


@pytest.mark.slow
def test_cli_categorizes_a_library_labelled_only_with_a_category_column(tmp_path):
    """A sidecar naming only UCS Categories (BIRDS / WATER, no subcategory): the index gets
    Category predictions, and the CLI says which level it learnt at."""
    from sfxkit.index.build import build_index

    lib = tmp_path / "lib"
    rows = ["file,category"]
    for i in range(5):
        synth.write_audio(lib / f"chirp{i}.wav", synth.tone(2500 + 300 * i, 1.0))
        synth.write_audio(lib / f"stream{i}.wav", synth.noise(1.0, band=(300, 6000), seed=i))
        rows += [f"chirp{i}.wav,BIRDS", f"stream{i}.wav,WATER"]
    synth.write_audio(lib / "take_17.wav", synth.tone(3250, 1.0))
    synth.write_audio(lib / "take_18.wav", synth.noise(1.0, band=(300, 6000), seed=40))
    (lib / "sfxkit.csv").write_text("\n".join(rows) + "\n")
    build_index(lib, tmp_path / "idx", models="tiny", progress=False)
    exe = Path(sys.executable).with_name("sfxkit")
    proc = subprocess.run(
        [str(exe), "index", "categorize", str(tmp_path / "idx"), "--view", "clap_audio", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["level"], out["labelled"], out["predicted"]) == ("category", 10, 2)
    info = subprocess.run(
        [str(exe), "index", "info", str(tmp_path / "idx"), "--json"],
        capture_output=True,
        text=True,
    )
    summary = json.loads(info.stdout)
    assert summary["categorize"]["level"] == "category"
    assert summary["predicted_categories"] == {"BIRDS": 1, "WATER": 1}
    text = subprocess.run(
        [str(exe), "index", "info", str(tmp_path / "idx")], capture_output=True, text=True
    ).stdout
    assert "at the UCS Category level" in text


@pytest.mark.real_weights
def test_build_with_real_aisfx_groups_copies_and_predicts(tmp_path):
    from sfxkit.index.build import build_index
    from sfxkit.index.store import load_index
    from sfxkit.models.registry import AISFX_MODEL
    from sfxkit.recommender import Recommender
    from tests.models.test_aisfx_real import require_aisfx_weights

    require_aisfx_weights()
    lib = tmp_path / "lib"
    for i in range(11):
        synth.write_audio(
            lib / f"ALRMBell_Bell Ring {i}_AB_Lib.wav", synth.tone(500 + 150 * i, 1.5, amp=0.4)
        )
        synth.write_audio(
            lib / f"RAIN_Rain Steady {i}_AB_Lib.wav",
            synth.noise(1.5, band=(800 + 300 * i, 12000), seed=i),
        )
    synth.write_audio(lib / "hit3.wav", synth.tone(1234, 1.5, amp=0.4))
    rain = synth.noise(2.0, band=(1000, 12000), seed=50)
    synth.write_audio(lib / "SFX_0042.wav", rain, subtype="PCM_24")
    synth.write_audio(lib / "SFX_0042_web.mp3", rain * 0.5)
    # tiny CLIP/CLAP, the real aiSFX (models="tiny" alone means the tiny aiSFX too)
    report = build_index(
        lib, tmp_path / "idx", models="tiny", sfx_model=AISFX_MODEL, progress=False
    )
    assert any(
        n.startswith("predicted categories at the UCS CatID level for 3 item(s)")
        for n in report.sound_analysis
    )
    rows = load_index(tmp_path / "idx", views=[]).rows.set_index("title")
    assert rows.loc["hit3", "predicted_category"] == "ALARMS"
    assert rows.loc["SFX 0042", "predicted_catid"] == "RAIN"
    assert rows.loc["SFX 0042", "category"] == "" and rows.loc["hit3", "category"] == ""
    assert "rain" in rows.loc["SFX 0042", "visual_description"]
    group = rows.loc["SFX 0042", "near_dup_group"]
    assert group and rows.loc["SFX 0042 web", "near_dup_group"] == group
    assert rows.loc["SFX 0042", "near_dup_rank"] == 0  # the 24-bit WAV beats the MP3
    rec = Recommender(tmp_path / "idx")
    shown = [r.id for r in rec.recommend_audio(rain[0] * 0.8, k=8, sample_rate=synth.SR)]
    by_id = load_index(tmp_path / "idx", views=[]).rows.set_index("id")
    assert len([i for i in shown if by_id.loc[i, "near_dup_group"] == group]) == 1
    every = rec.recommend_audio(rain[0] * 0.8, k=8, sample_rate=synth.SR, dedupe=False)
    assert len([r for r in every if r.near_dup_group == group]) > 1
