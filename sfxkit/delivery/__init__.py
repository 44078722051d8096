"""Delivery of a soundtrack's timeline to the mix stage: the timeline model, mixing and loudness,
Broadcast WAV clips and stems, timecode, 5.1 placement, and AAF / FCP XML / EDL / OTIO exports.

    timeline     sfxkit.delivery.timeline     Layer, Cue, Timeline (the editorial stage's output)
    mix          sfxkit.delivery.mix          stems by type, loudness, true-peak limiting
    export       sfxkit.delivery.export       export_all: clips, stems, mux, cue sheets
    interchange  sfxkit.delivery.interchange  AAF, FCP 7 XML, OTIO, CMX3600 EDL
    bwf          sfxkit.delivery.bwf          Broadcast WAV (bext) writer
    timecode     sfxkit.delivery.timecode     SMPTE timecode, drop-frame
    surround     sfxkit.delivery.surround     5.1 placement
"""
