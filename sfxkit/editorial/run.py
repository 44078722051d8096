"""The one verb: :func:`soundtrack` runs plan → decide → render → mix → deliver for one video.

``layers="shot"`` (the default) gives each shot one sound, cut to cut. ``layers="auto"`` works
like a sound editor: an ambience bed per scene under all its shots and a spot effect on each
visible event (see :mod:`sfxkit.editorial.plan`). Every cue is decided by the same rules
(:mod:`sfxkit.editorial.decision`), fitted (:mod:`sfxkit.editorial.render`), mixed by
:func:`sfxkit.delivery.mix.mix_timeline` and written by :func:`sfxkit.delivery.export.export_all`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfxkit.editorial.decision import (
    build_prompt,
    chosen_sound,
    decide,
    load_review,
    share_gains_db,
)
from sfxkit.editorial.options import FORCED, SoundtrackOptions
from sfxkit.editorial.plan import open_recommender, shot_candidates
from sfxkit.editorial.render import (
    LazyGenerator,
    catalog_layer,
    fit_mode,
    generated_layer,
    motion_for,
    nudged,
)
from sfxkit.editorial.results import ShotDecision, SoundtrackResult, StageClock
from sfxkit.errors import InputError

if TYPE_CHECKING:
    from sfxkit.delivery.timeline import Cue, Layer
    from sfxkit.generation.base import Generator
    from sfxkit.index.store import LoadedIndex
    from sfxkit.media.shots import Shot
    from sfxkit.recommender import Recommendation, Recommender


def soundtrack(
    video: str | Path,
    index: str | Path | LoadedIndex | Recommender,
    options: SoundtrackOptions | None = None,
    *,
    out: str | Path | None = None,
    device: str | None = None,
    progress: bool | None = None,
    shots: Sequence[Shot] | None = None,
    generator: Generator | LazyGenerator | None = None,
    **knobs: Any,
) -> SoundtrackResult:
    """Give ``video`` its sound effects from the index at ``index``, shot by shot.

    Cuts the video into shots, recommends ``k`` sounds per shot and decides ``retrieve``,
    ``generate`` or ``blend`` (``policy``; ``overrides={shot: decision}`` forces single shots;
    rules in the module docstring). Retrieved sounds are fitted to their shot (trim/loop, onset
    aligned to the visual motion onset when ``align``), optionally follow motion energy
    (``follow_motion``) and position (``pan``); generated ones (MMAudio ``variant``, ``steps``,
    ``cfg_strength``, ``seed`` + shot number) are prompted by ``prompt`` or, by default, by the
    shot's best candidates. ``blend`` layers both (``blend_gains_db`` = retrieved, generated dB)
    or crossfades (``blend_mode="crossfade"``). The mix is at ``target_lufs`` integrated loudness
    under ``true_peak`` dBTP with equal-power ``crossfade`` s at shot boundaries. With ``out`` it
    also delivers there (:func:`sfxkit.delivery.export.export_all`, knobs ``formats``, ``start_tc``,
    ``handles``, ``channels``): Broadcast WAV clips, stems by type and mix (5.1 too when asked),
    the muxed video, AAF/FCP XML/EDL/OTIO/CSV cue sheets, provenance and ``decisions.json``. Catalog sounds flagged ``silent`` are never used unless
    ``filters`` says otherwise. ``choices`` (a review session file or mapping, see
    :func:`load_choices`) override the decision, sound, gain and blend share of single shots.
    """
    from sfxkit._progress import stage

    opts = SoundtrackOptions.from_kwargs(options, **knobs)
    if opts.start_tc is not None and out is not None:
        from sfxkit.delivery.export import check_delivery

        check_delivery(video, start_tc=opts.start_tc)  # a label the video's frame rate has
    review = load_review(opts.choices)
    chosen = review.shots
    if opts.layers == "auto" and chosen:
        raise InputError(
            "the review choices name shots, which layers='auto' does not cut by: choose per cue "
            '("cues": {"bed-0": ..., "spot-3": ...}) or use layers=\'shot\' (--layers shot)'
        )
    if opts.layers == "shot" and (review.cues or review.added):
        raise InputError(
            "the review choices name cues (beds and spots) of layers='auto'; "
            "export with --layers auto"
        )
    forced = {
        **opts.overrides,
        **{i: c.decision for i, c in chosen.items() if c.decision is not None},
    }
    video = Path(video)
    clock = StageClock()
    rec = open_recommender(index, device)
    filters = opts.filters if opts.filters is not None else {"exclude_flags": ("silent",)}
    with stage(f"{video.name}: shots and catalog candidates", enabled=progress):
        found = shot_candidates(
            video,
            rec,
            k=opts.k,
            filters=filters,
            shots=shots,
            clock=clock,
            detectors=opts.shot_detectors,
        )
    bad = sorted(i for i in {*forced, *chosen} if not 0 <= i < len(found.shots))
    if bad:
        raise InputError(
            f"overrides name shot(s) {bad} but {video} has {len(found.shots)} shot(s), "
            f"numbered 0..{len(found.shots) - 1}"
        )
    gen = (
        generator
        if isinstance(generator, LazyGenerator)
        else LazyGenerator(opts.variant, device, generator)
    )
    layer_info: dict[str, Any] = {}
    if opts.layers == "auto":
        cues, decisions, layer_info = _layer_cues(
            video, rec, found, opts, gen, clock, filters=filters, progress=progress, review=review
        )
    else:
        cues, decisions = _shot_cues(
            video, rec, found, opts, gen, clock, forced=forced, chosen=chosen, progress=progress
        )
    return _mix_and_deliver(video, rec, found, opts, cues, decisions, layer_info, clock, out=out)


__all__ = ["soundtrack"]


def _shot_cues(
    video: Path,
    rec: Recommender,
    found: Any,
    opts: SoundtrackOptions,
    gen: LazyGenerator,
    clock: StageClock,
    *,
    forced: dict[int, str],
    chosen: dict[int, Any],
    progress: bool | None,
) -> tuple[list[Cue], list[ShotDecision]]:
    """The cues of ``layers="shot"``: one per shot, cut to cut, each decided on its candidates."""
    from sfxkit._progress import track

    cues: list[Cue] = []
    decisions: list[ShotDecision] = []
    for shot, cands in track(
        list(zip(found.shots, found.candidates, strict=True)),
        total=len(found.shots),
        desc="soundtrack",
        unit="shot",
        enabled=progress,
    ):
        decision, cue = _shot_cue(
            video, rec, shot, cands, found.info.duration, opts, gen, clock,
            forced=forced.get(shot.index), choice=chosen.get(shot.index),
        )  # fmt: skip
        decisions.append(decision)
        cues.append(cue)
    return cues, decisions


def _shot_cue(
    video: Path,
    rec: Recommender,
    shot: Shot,
    cands: list[Recommendation],
    video_duration: float,
    opts: SoundtrackOptions,
    gen: LazyGenerator,
    clock: StageClock,
    *,
    forced: str | None,
    choice: Any,
) -> tuple[ShotDecision, Cue]:
    """One shot: decide (policy, then the forced decision or review choice), fit the catalog
    sound and/or generate one, and return the decision record and the cue made from it."""
    from sfxkit.delivery.mix import shape_layer
    from sfxkit.delivery.timeline import Cue

    decision, reason, numbers = decide(cands, policy=opts.policy, thresholds=opts.thresholds)
    if forced is not None:
        numbers.setdefault("auto_decision", decision)
        decision = forced
        by = "the review choices" if choice is not None else f"overrides[{shot.index}]"
        reason = f"forced by {by} = '{decision}' (policy gave: {reason})"
        numbers["override"] = decision
    rg, gg = opts.blend_gains_db
    if choice is not None and choice.blend is not None:
        rg, gg = share_gains_db(choice.blend)
        if decision == "blend":
            numbers["blend_share"] = choice.blend
    if choice is not None and choice.sound is not None:
        pick = chosen_sound(rec, cands, choice.sound, shot.index)
        cands = [pick, *(c for c in cands if c.id != pick.id)]
        numbers["chosen_sound"] = pick.id
    prompt = opts.prompt if opts.prompt is not None else build_prompt(cands)
    handle = max(opts.crossfade, 0.0) / 2.0
    shaping = {"follow_motion": opts.follow_motion, "pan": opts.pan, "handle": handle}
    layers: list[Layer] = []
    profile = None
    if decision in ("retrieve", "blend"):
        layer, decision, note = catalog_layer(
            cands, rg if decision == "blend" else 0.0, decision, numbers, clock
        )
        reason += note
        if layer is not None:
            with clock("decode"):
                wants_motion = opts.align or opts.follow_motion or opts.pan
                profile = motion_for(video, shot) if wants_motion else None
            with clock("mix"):
                mode = fit_mode(layer, shot.duration, opts.fit)
                shaped = shape_layer(
                    layer, video, shot.start, shot.end, mode=mode,  # type: ignore[arg-type]
                    align=opts.align, profile=profile, **shaping,
                )  # fmt: skip
                if choice is not None and choice.offset:
                    shaped = nudged(shaped, choice.offset)
                    numbers["offset_nudge"] = choice.offset
                layers.append(shaped)
            numbers["retrieved_id"] = layer.source.get("id")
    generates = decision in ("generate", "blend")
    if generates:
        with clock("load"):
            gen.loaded  # noqa: B018 - load the model outside the generate timing
        with clock("generate"):
            sound = gen.for_shot(
                video,
                shot,
                video_duration,
                tail=handle,
                prompt=prompt,
                negative_prompt=opts.negative_prompt,
                steps=opts.steps,
                cfg_strength=opts.cfg_strength,
                seed=opts.seed,
            )
        glayer = generated_layer(sound, gain_db=gg if decision == "blend" else 0.0)
        if (opts.follow_motion or opts.pan) and profile is None:
            with clock("decode"):
                profile = motion_for(video, shot)
        with clock("mix"):
            # Generated from the shot's own frames: already in sync, so never re-aligned.
            layers.append(
                shape_layer(
                    glayer,
                    video,
                    shot.start,
                    shot.end,
                    mode="trim",
                    align=False,
                    profile=profile,
                    **shaping,
                )  # fmt: skip
            )
    numbers["decision"] = decision
    record = ShotDecision(
        shot=shot,
        decision=decision,
        reason=reason,
        numbers=numbers,
        candidates=list(cands),
        prompt=prompt if generates else "",
        negative_prompt=opts.negative_prompt if generates else "",
    )
    cue = Cue(
        index=shot.index,
        start=shot.start,
        end=min(shot.end, video_duration),
        decision=decision,  # type: ignore[arg-type]
        reason=reason,
        numbers=numbers,
        layers=tuple(layers),
        blend=opts.blend_mode if decision == "blend" else "layer",  # type: ignore[arg-type]
        # The review's gain nudge moves the cue's level (the mix levels each cue to the
        # target plus this): as a layer gain it would be levelled away.
        gain_db=choice.gain_db if choice is not None else 0.0,
    )
    return record, cue


def _mix_and_deliver(
    video: Path,
    rec: Recommender,
    found: Any,
    opts: SoundtrackOptions,
    cues: list[Cue],
    decisions: list[ShotDecision],
    layer_info: dict[str, Any],
    clock: StageClock,
    *,
    out: str | Path | None,
) -> SoundtrackResult:
    """Mix the cues to the loudness target, deliver them to ``out`` and sum up the run."""
    from sfxkit.delivery.mix import mix_stats, mix_timeline
    from sfxkit.delivery.timeline import Timeline

    info = found.info
    timeline = Timeline(
        video=str(video),
        duration=info.duration,
        sample_rate=opts.sample_rate,
        channels=2,
        cues=tuple(cues),
        fps=info.fps or None,
    )
    with clock("mix"):
        mix, stems = mix_timeline(
            timeline,
            target_lufs=opts.target_lufs,
            true_peak=opts.true_peak,
            crossfade=opts.crossfade,
            bed_crossfade=opts.bed_crossfade,
        )
        measured = mix_stats(
            mix, opts.sample_rate, target_lufs=opts.target_lufs, ceiling_dbtp=opts.true_peak
        )
    exports = None
    if out is not None:
        from sfxkit._json import write_json
        from sfxkit.delivery.export import export_all

        with clock("export"):
            exports = export_all(
                timeline,
                mix,
                stems,
                out,
                video=video,
                target_lufs=opts.target_lufs,
                true_peak=opts.true_peak,
                formats=opts.formats,
                start_tc=opts.start_tc,
                handles=opts.handles,
                channels=opts.channels,
            )
            write_json(
                Path(out) / "decisions.json",
                {
                    "video": str(video),
                    "policy": opts.policy,
                    "layers": opts.layers,
                    "thresholds": opts.thresholds.to_dict(),
                    "untrained_index": rec.untrained,
                    **layer_info,
                    "shots": [d.to_dict() for d in decisions],
                },
            )
    counts = Counter(d.decision for d in decisions)
    untrained_generated = any(
        lay.kind == "generated" and lay.source.get("untrained") for c in cues for lay in c.layers
    )
    stats = {
        "shots": len(found.shots),
        "layers": opts.layers,
        "cues": dict(Counter(c.role for c in cues)),
        "scenes": len(layer_info.get("scenes", ())) if layer_info else None,
        "duration": info.duration,
        "decisions": {d: counts.get(d, 0) for d in FORCED},
        "target_lufs": opts.target_lufs,
        "loudness": measured.loudness,
        "loudness_kind": measured.loudness_kind,
        "true_peak_dbtp": measured.true_peak_dbtp,
        "ceiling_dbtp": opts.true_peak,
        "non_commercial": timeline.non_commercial,
        "untrained_index": rec.untrained,
        "untrained_generator": untrained_generated,
        "seconds": {s: round(v, 4) for s, v in clock.seconds.items()},
    }
    return SoundtrackResult(
        video=video,
        timeline=timeline,
        decisions=decisions,
        mix=mix,
        stems=tuple(stems),
        exports=exports,
        stats=stats,
    )


# ---- layers="auto": a bed per scene, a spot per event ------------------------------------------

# MMAudio is trained on clips of about 8 s: a longer bed is generated this long and looped.
BED_GENERATE_MAX_SECONDS = 8.0
# A spot cue starts this much before its onset, so the fade into a head-cut sound ends before
# the attack instead of on it.
SPOT_PREROLL_SECONDS = 0.01


def _layer_cues(
    video: Path,
    rec: Recommender,
    found: Any,
    opts: SoundtrackOptions,
    gen: LazyGenerator,
    clock: StageClock,
    *,
    filters: Any,
    progress: bool | None,
    review: Any = None,
) -> tuple[list[Cue], list[ShotDecision], dict[str, Any]]:
    """The cues of ``layers="auto"``: beds first (numbered by scene), then spots (numbered on),
    then the spots added by hand; the review's cue choices (keyed ``bed-N``/``spot-N``, see
    :class:`~sfxkit.editorial.decision.ReviewChoices`) change, move or drop planned cues."""
    import dataclasses

    from sfxkit._progress import track
    from sfxkit.delivery.mix import fit_to_shot, pan_by_motion
    from sfxkit.delivery.timeline import Cue
    from sfxkit.editorial.decision import ReviewChoices
    from sfxkit.editorial.plan import Event, plan_layers

    plan = plan_layers(
        video,
        rec,
        found,
        k=opts.k,
        filters=filters,
        scene_threshold=opts.scene_threshold,
        max_spots=opts.max_spots,
        onset_rise=opts.onset_rise,
        spot_gap=opts.spot_gap,
        clock=clock,
    )
    info = found.info
    shots = {s.index: s for s in found.shots}
    scene_of = {i: sc.index for sc in plan.scenes for i in sc.shots}
    review = review if review is not None else ReviewChoices()
    known = {f"bed-{sc.index}" for sc in plan.scenes} | {
        f"spot-{j}" for j in range(len(plan.events))
    }
    unknown = sorted(set(review.cues) - known)
    if unknown:
        raise InputError(
            f"the review choices name cue(s) {unknown}, which {video} does not have with these "
            f"options (its cues: {', '.join(sorted(known)) or 'none'})"
        )
    jobs: list[tuple[str, int, Any, list[Recommendation], str]] = [
        ("bed", sc.index, sc, c, f"bed-{sc.index}")
        for sc, c in zip(plan.scenes, plan.bed_candidates, strict=True)
    ] + [
        ("spot", len(plan.scenes) + j, ev, c, f"spot-{j}")
        for j, (ev, c) in enumerate(zip(plan.events, plan.spot_candidates, strict=True))
    ]
    last = found.shots[-1].index if found.shots else 0
    added_gain: dict[str, float] = {}
    for n, added in enumerate(sorted(review.added, key=lambda a: a.at)):
        if added.at >= info.duration:
            raise InputError(
                f"the review choices add a spot at {added.at:.3f} s, past the end of {video} "
                f"({info.duration:.3f} s)"
            )
        in_shot = next((s.index for s in found.shots if s.start <= added.at < s.end), last)
        pick = chosen_sound(rec, [], added.sound, in_shot)
        event = Event(shot=in_shot, time=added.at, rise=0.0)
        jobs.append(("spot", len(plan.scenes) + len(plan.events) + n, event, [pick], f"added-{n}"))
        added_gain[f"added-{n}"] = added.gain_db
    cues: list[Cue] = []
    decisions: list[ShotDecision] = []
    for role, index, item, cands, key in track(
        jobs, total=len(jobs), desc="soundtrack", unit="cue", enabled=progress
    ):
        choice = review.cues.get(key)
        if choice is not None and choice.deleted:
            continue
        offset = choice.offset if choice is not None else 0.0
        if role == "spot" and offset:  # a spot moves with its onset
            item = dataclasses.replace(
                item, time=min(max(item.time + offset, 0.0), info.duration - 1e-3)
            )
        if role == "bed":
            start, end = item.start, min(item.end, info.duration)
            shot = shots[item.shots[0]]
            where = f"bed for scene {item.index} (shots {', '.join(map(str, item.shots))})"
        else:
            start = max(item.time - SPOT_PREROLL_SECONDS, 0.0)
            end = min(item.time + opts.spot_length, info.duration)
            shot = shots[item.shot]
            where = f"spot on the visible event at {item.time:.2f} s in shot {item.shot}"
            if key.startswith("added-"):
                where = f"spot added by hand at {item.time:.2f} s in shot {item.shot}"
        decision, reason, numbers = decide(cands, policy=opts.policy, thresholds=opts.thresholds)
        reason = f"{where}: {reason}"
        r_gain, g_gain = opts.blend_gains_db
        nudge_db = 0.0
        if key.startswith("added-"):
            decision, reason = "retrieve", f"{where}: placed in the review"
            nudge_db = added_gain[key]
        if choice is not None:
            if choice.decision is not None:
                numbers.setdefault("auto_decision", decision)
                decision = choice.decision
                reason = f"forced by the review choices = '{decision}' ({reason})"
                numbers["override"] = decision
            if choice.sound is not None:
                pick = chosen_sound(rec, cands, choice.sound, shot.index)
                cands = [pick, *(c for c in cands if c.id != pick.id)]
                numbers["chosen_sound"] = pick.id
            if choice.blend is not None:
                r_gain, g_gain = share_gains_db(choice.blend)
                if decision == "blend":
                    numbers["blend_share"] = choice.blend
            nudge_db = choice.gain_db
            if offset:
                numbers["offset_nudge"] = offset
        numbers["cue_key"] = key
        numbers["role"] = role
        if role == "bed":
            numbers.update(scene=item.index, shots=list(item.shots), similarity=item.similarity)
        else:
            numbers.update(onset=round(item.time, 6), rise=round(item.rise, 6))
        span = end - start
        layers: list[Layer] = []
        if decision in ("retrieve", "blend"):
            layer, decision, note = catalog_layer(
                cands, r_gain if decision == "blend" else 0.0, decision, numbers, clock
            )
            reason += note
            if layer is not None:
                with clock("mix"):
                    if role == "bed":
                        # One sound under the whole scene: looped if short, never aligned or
                        # shaped by motion (ambience does not follow the action), and carried
                        # past the scene's end for the crossfade into the next bed.
                        x = fit_to_shot(
                            layer.waveform,
                            layer.sample_rate,
                            span + opts.bed_crossfade / 2,
                            mode=fit_mode(layer, span, opts.fit),  # type: ignore[arg-type]
                            align=False,
                        )
                    else:
                        # Fitted past the cue by the handles: the mix ends the spot at its
                        # cue, delivery keeps the rest as the clip's handle.
                        onset = item.time - start
                        x = fit_to_shot(
                            layer.waveform,
                            layer.sample_rate,
                            span + opts.handles,
                            mode="trim",
                            onset_at=onset,
                            align=opts.align,
                        )
                    layers.append(dataclasses.replace(layer, waveform=x))
                numbers["retrieved_id"] = layer.source.get("id")
        prompt = opts.prompt if opts.prompt is not None else build_prompt(cands)
        if decision in ("generate", "blend"):
            if role == "bed" and opts.prompt is None:
                prompt = f"{prompt}, ambience" if prompt else "ambience, room tone"
            length = min(span, BED_GENERATE_MAX_SECONDS) if role == "bed" else span
            with clock("load"):
                gen.loaded  # noqa: B018 - load the model outside the generate timing
            with clock("generate"):
                sound = gen.for_span(
                    video,
                    start,
                    min(length, info.duration - start),
                    prompt=prompt,
                    negative_prompt=opts.negative_prompt,
                    steps=opts.steps,
                    cfg_strength=opts.cfg_strength,
                    seed=opts.seed + index,
                )
            glayer = generated_layer(sound, gain_db=g_gain if decision == "blend" else 0.0)
            with clock("mix"):
                total = span + (opts.bed_crossfade / 2 if role == "bed" else 0.0)
                looped = role == "bed" and glayer.duration < total
                x = fit_to_shot(
                    glayer.waveform,
                    glayer.sample_rate,
                    total,
                    mode="loop" if looped else "trim",
                    align=False,
                )
                layers.append(dataclasses.replace(glayer, waveform=x))
        if role == "spot" and layers and (opts.pan or opts.channels == "5.1"):
            import numpy as np

            from sfxkit.media.motion import motion_profile

            with clock("decode"):
                profile = motion_profile(video, start=start, end=end)
            # Where on screen the event is (5.1 pans spots across the front by it): the motion
            # centroid over the first 0.3 s after the onset, weighted by motion energy.
            near = profile.times <= (item.time - start) + 0.3
            weights = profile.energy[near]
            if weights.size and float(weights.sum()) > 0:
                numbers["screen_x"] = round(
                    float(
                        np.clip((profile.centroid_x[near] * weights).sum() / weights.sum(), -1, 1)
                    ),
                    4,
                )
        if opts.pan and role == "spot" and layers:
            with clock("mix"):
                layers = [
                    dataclasses.replace(
                        lay, waveform=pan_by_motion(lay.waveform, lay.sample_rate, profile)
                    )
                    for lay in layers
                ]
        if role == "bed" and offset and layers:  # a bed's sound moves inside its scene
            layers = [nudged(lay, offset) for lay in layers]
        numbers["decision"] = decision
        gen_used = decision in ("generate", "blend")
        decisions.append(
            ShotDecision(
                shot=shot,
                decision=decision,
                reason=reason,
                numbers=numbers,
                candidates=list(cands),
                prompt=prompt if gen_used else "",
                negative_prompt=opts.negative_prompt if gen_used else "",
                role=role,
                cue=index,
                span=(round(start, 6), round(end, 6)),
            )
        )
        cues.append(
            Cue(
                index=index,
                start=start,
                end=end,
                decision=decision,  # type: ignore[arg-type]
                reason=reason,
                numbers=numbers,
                layers=tuple(layers),
                blend=opts.blend_mode if decision == "blend" else "layer",  # type: ignore[arg-type]
                role=role,  # type: ignore[arg-type]
                scene=item.index if role == "bed" else scene_of.get(item.shot),
                shots=item.shots if role == "bed" else (item.shot,),
                # the review's nudge on top of the bed level (see _shot_cue)
                gain_db=(opts.bed_level_db if role == "bed" else 0.0) + nudge_db,
            )
        )
    layer_info = {
        "scene_threshold": opts.scene_threshold,
        "scenes": [dataclasses.asdict(sc) for sc in plan.scenes],
        "events": [dataclasses.asdict(ev) for ev in plan.events],
    }
    return cues, decisions, layer_info
