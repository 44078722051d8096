"""Spots on visible events: a drawn video with a bouncing ball, objects appearing, a hammer
striking and bursts of sparks, joined by a fade through black, a dissolve and a cut, with a pan
and a white flash: every drawn event gets a spot within two frames, and no spot lands on the
fade, the dissolve, the flash or the start of the pan (which motion-energy onsets did)."""

from __future__ import annotations

import numpy as np
import pytest

from sfxkit.editorial.plan import motion_onsets
from sfxkit.errors import InputError
from sfxkit.media.events import detect_events, event_scores, pick_events
from sfxkit.media.motion import motion_profile
from sfxkit.media.shots import detect_shots
from tests import synth

FPS = 25
TOL = 2 / FPS + 1e-6
SPEC = dict(
    width=128,
    height=72,
    kinds=("bounce", "appear", "strike", "burst"),
    joins=("fade", "dissolve", "cut"),
    pans=(0.0, 2.0, 0.0, 0.0),
    flashes=(False, False, True, False),
)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory):
    frames, truth = synth.event_clip(5, **SPEC)  # type: ignore[arg-type]
    video = synth.write_video_frames(tmp_path_factory.mktemp("events") / "events.mp4", frames)
    return video, truth, detect_shots(video)


def on_transition(t: float, truth: dict) -> bool:
    return any(a <= t <= b for a, b in truth["transitions"])


def test_spots_land_on_drawn_events_and_not_on_transitions(drawn) -> None:
    video, truth, shots = drawn
    # Shot detection explains the fade and the dissolve (and not the flash or the pan).
    assert [s.transition for s in shots] == ["start", "fade", "dissolve", "cut"]
    spots = [e.time for e in detect_events(video, shots)]
    assert len(truth["events"]) == 5  # a bounce, an appearance, a strike, two bursts
    for t in truth["events"]:
        assert any(abs(t - s) <= TOL for s in spots), (t, spots)
    assert [s for s in spots if on_transition(s, truth)] == []
    # Most spots are on events (the rest: a hammer lifting, sparks leaving the frame).
    hits = sum(any(abs(t - s) <= TOL for t in truth["events"] + truth["dont_care"]) for s in spots)
    assert hits >= 0.7 * len(spots)
    # The detector it replaces put spots on this clip's transitions and missed events.
    old = [
        s.start + t
        for s in shots
        for t, _ in motion_onsets(motion_profile(video, start=s.start, end=s.end), min_rise=0.01)
    ]
    assert any(on_transition(s, truth) for s in old)
    assert sum(any(abs(t - s) <= TOL for s in old) for t in truth["events"]) < len(truth["events"])


def test_fades_and_dissolves_score_no_events() -> None:
    """A still textured picture fading to black and back, and dissolving to another: the
    frame difference is large, the event score stays at zero."""
    a = synth.texture(1, 96, 54).astype(np.float32) @ np.array([0.299, 0.587, 0.114]) / 255
    b = synth.texture(2, 96, 54).astype(np.float32) @ np.array([0.299, 0.587, 0.114]) / 255
    fade = [a * (1 - i / 12) for i in range(13)] + [b * (i / 12) for i in range(13)]
    dissolve = [a * (1 - i / 25) + b * (i / 25) for i in range(26)]
    for frames in (fade, dissolve):
        change, novelty = event_scores(np.stack(frames).astype(np.float32))
        assert pick_events(change + 2 * novelty, FPS) == []
    # ...while an object appearing in the same still picture is an event, on its frame.
    appear = [a.copy() for _ in range(20)]
    for f in appear[9:]:
        f[20:34, 40:56] = 1.0
    change, novelty = event_scores(np.stack(appear).astype(np.float32))
    assert [i for i, _ in pick_events(change + 2 * novelty, FPS)] == [9]


def test_bad_settings_name_themselves(drawn) -> None:
    video, _, shots = drawn
    with pytest.raises(InputError, match="threshold"):
        detect_events(video, shots, threshold=-1.0)


def test_pick_events_keeps_the_stronger_of_close_peaks() -> None:
    s = np.zeros(60)
    s[10], s[13], s[40] = 0.3, 0.5, 0.2
    assert [i for i, _ in pick_events(s, FPS, threshold=0.1, min_gap=0.25)] == [13, 40]
    assert [i for i, _ in pick_events(s, FPS, threshold=0.1, max_events=1)] == [13]
    assert pick_events(s, FPS, threshold=0.6) == []


def test_event_threshold_is_validated() -> None:
    """The layered soundtrack's options validate the event threshold like the others."""
    from sfxkit.editorial import SoundtrackOptions

    with pytest.raises(InputError, match="onset_rise"):
        SoundtrackOptions(layers="auto", onset_rise=-0.1)
