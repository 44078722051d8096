"""The OTIO timeline behind AAF/XML/OTIO: lanes for overlapping clips, links, refusals."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from sfxkit.delivery.interchange import DeliveredClip, build_otio, stem_type, write_interchange
from sfxkit.errors import InputError


def clip(name: str, start: float, duration: float, kind: str = "spot", handle: float = 0.0):
    return DeliveredClip(
        name=name, stem_type=kind, path=f"clips/{name}", start=start, duration=duration,
        handle_before=handle, file_duration=duration + 2 * handle,
    )  # fmt: skip


def test_overlapping_clips_of_a_type_get_their_own_track(tmp_path: Path) -> None:
    # Three door slams, the second one overlapping the first; a bed under all of them.
    clips = [
        clip("slam1.wav", 1.0, 1.0),
        clip("slam2.wav", 1.6, 1.0),
        clip("slam3.wav", 2.2, 0.5),  # after slam1 ends: back on the first FX track
        clip("room.wav", 0.0, 4.0, "backgrounds"),
    ]
    written = write_interchange(build_otio(clips, fps=25, base_url=tmp_path), tmp_path, ["aaf"])
    back = otio.adapters.read_from_file(str(written["aaf"]))
    tracks = [[c.name for c in t.find_clips()] for t in back.tracks]
    assert tracks == [["room.wav"], ["slam1.wav", "slam3.wav"], ["slam2.wav"]]
    tl = build_otio(clips, fps=25)  # kept in a name: a Timeline's tracks live as long as it does
    assert [t.name for t in tl.tracks] == ["BG", "FX", "FX 2"]
    # Every clip sits at its own time on its track.
    starts = {c.name: c.range_in_parent().start_time.to_seconds() for c in back.find_clips()}
    assert starts == {"room.wav": 0.0, "slam1.wav": 1.0, "slam2.wav": 1.6, "slam3.wav": 2.2}


def test_roles_map_to_stem_types_and_bad_input_is_refused() -> None:
    assert [stem_type(r) for r in ("bed", "spot", "shot")] == ["backgrounds", "spot", "spot"]
    assert stem_type("bed", generated=True) == "generated"
    with pytest.raises(InputError, match="role"):
        stem_type("music")
    with pytest.raises(InputError, match="before timecode 00:00:00:00"):
        build_otio([clip("early.wav", 0.2, 1.0, handle=1.0)], fps=25)
    # The same handle is fine once the timeline starts at 01:00:00:00.
    tl = build_otio([clip("early.wav", 0.2, 1.0, handle=1.0)], fps=25, start_tc="01:00:00:00")
    (c,) = tl.find_clips()
    assert c.media_reference.available_range.start_time.value == 90_000 + 5 - 25
