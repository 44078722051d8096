"""The FastAPI application: the JSON API over a resident index, catalog audio, jobs, pages."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    StreamingResponse,
)

from sfxkit.errors import IndexStoreError, InputError, ModelError, SfxkitError
from sfxkit.serve.resident import ResidentIndex
from sfxkit.serve.security import (
    Guard,
    catalog_file,
    clean_path,
    inside,
    is_loopback,
    job_file,
    output_folder,
)
from sfxkit.vocabulary import term

DEDUPE_HELP = term("dedupe").help

DEFAULT_MAX_UPLOAD_MB = 200.0


def _status(exc: SfxkitError) -> int:
    if isinstance(exc, TooManyPixels):
        return 422
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, (IndexStoreError, ModelError)):
        return 503
    return 422


MAX_IMAGE_PIXELS = 40_000_000
"""Pixels an uploaded image may decode to (a 40 MP photo). A larger JPEG is decoded at a
reduced scale (Pillow's draft: 1/2, 1/4 or 1/8 while decoding); any other larger image is
refused with 422 before it is decoded."""


class TooManyPixels(InputError):
    """An upload that would decode to more pixels than the service's budget."""


def _decoded_image(upload: UploadFile) -> Any:
    """The uploaded image decoded in memory as load_frame would from a file, within
    :data:`MAX_IMAGE_PIXELS`; None when that fails (or the name says video), leaving the file
    path to report why."""
    from PIL import Image

    from sfxkit.media.frames import _pil_to_rgb, is_video

    if is_video(upload.filename or ""):
        return None
    data = upload.file.read()
    upload.file.seek(0)
    limit = f"the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} MP"
    try:
        with warnings.catch_warnings():  # the budget below is ours
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise TooManyPixels(f"{upload.filename or 'upload'}: too many pixels; {limit}") from None
    except Exception:  # noqa: BLE001 - PIL raises many types; the file path reports it
        return None
    with img:
        w, h = img.size
        if w * h > MAX_IMAGE_PIXELS and img.format == "JPEG":
            # the smallest JPEG reduction (1/2, 1/4, 1/8) that fits the budget
            n = next((n for n in (2, 4, 8) if (w // n) * (h // n) <= MAX_IMAGE_PIXELS), 8)
            img.draft("RGB", (w // n, h // n))
        if img.size[0] * img.size[1] > MAX_IMAGE_PIXELS:
            raise TooManyPixels(
                f"{upload.filename or 'upload'}: {w}x{h} is {w * h / 1e6:.0f} MP; {limit} "
                "(JPEGs up to 8 times larger each way are scaled while decoded): send a "
                "smaller image"
            )
        try:
            img.load()
            return _pil_to_rgb(img)
        except Exception:  # noqa: BLE001 - PIL raises many types; the file path reports it
            return None


# The fix a MediaError suggests, in the words of this API (the CLI words its own).
_HTTP_FIX = {
    True: "upload a sound file sfxkit can decode (WAV, FLAC, AIFF, OGG, MP3, ...)",
    False: "upload a JPEG/PNG/WebP/TIFF/BMP image, or a video with time= for one of its frames",
}


class _Uploaded(SfxkitError):
    """An sfxkit error raised on an uploaded file, reworded in HTTP terms and naming the file
    as the client sent it; ``fields`` keep the library's own message (and a MediaError's path
    and reason) so that a client can word it its own way."""

    def __init__(self, exc: SfxkitError, shown: str, tmp: Path, audio: bool) -> None:
        from sfxkit.errors import MediaError

        self.inner = exc
        self.exit_code = exc.exit_code
        self.fields: dict[str, Any] = {"message": str(exc).replace(str(tmp), shown)}
        if isinstance(exc, MediaError):
            path = exc.path.replace(str(tmp), shown)
            reason = exc.reason.replace(str(tmp), shown)
            self.fields.update(path=path, reason=reason)
            message = f"{path}: {reason}; {_HTTP_FIX[audio]}"
        else:
            message = (
                self.fields["message"]
                .replace("(video_path, seconds)", "a video with time=")
                .replace("(path, seconds)", "a video with time=")
            )
        super().__init__(message)


def create_app(
    index: str | Path,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    jobs_dir: str | Path | None = None,
    device: str | None = None,
    encoders: dict[str, Any] | None = None,
    outputs_root: str | Path | None = None,
    max_jobs: int | None = None,
    warm: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> Any:
    """The ASGI app serving ``index``, configured as if bound to ``host``.

    The server writes only inside ``jobs_dir`` (each job in its own folder) and, for review
    sessions given an ``out`` folder, inside ``outputs_root``. At most ``max_jobs`` jobs run at
    once (default :func:`~sfxkit.serve.jobs.default_limit`), the others wait in a queue.
    With ``warm`` the encoders load (and run once) when the server starts, in the background:
    ``/health`` answers 503 ``{"ready": false}`` until then, and ``on_ready`` is called after.

    A non-loopback ``host`` needs a ``token`` (raises InputError without one). ``encoders``
    (as :class:`~sfxkit.recommender.Recommender` takes them) replace the manifest's models in
    the service; jobs run in their own processes and load the manifest's.
    """
    from sfxkit.serve.jobs import JobManager

    loopback = is_loopback(host)
    if not loopback and not token:
        raise InputError(
            f"binding to {host} needs a token: pass --token or set SFXKIT_TOKEN "
            "(`sfxkit serve` generates one when neither is given)"
        )
    resident = ResidentIndex(index, device=device, encoders=encoders)
    folder = Path(jobs_dir) if jobs_dir else Path(tempfile.mkdtemp(prefix="sfxkit-jobs-"))
    folder.mkdir(parents=True, exist_ok=True)
    # Where this server may write (and read the choices files it wrote).
    roots = [folder.resolve()]
    if outputs_root is not None:
        roots.append(clean_path(str(outputs_root), "--outputs-root"))
    from sfxkit.serve.review import review_root

    # Jobs may also read the choices the review page keeps under the sfxkit cache (no out=).
    job_reads = [*roots, review_root().resolve()]
    jobs = JobManager(resident.path, folder, device=device, roots=job_reads, limit=max_jobs)
    from contextlib import asynccontextmanager

    def warm_up() -> None:
        resident.warm()
        if on_ready is not None:
            on_ready()

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        if warm:
            import threading

            threading.Thread(target=warm_up, name="sfxkit-warm", daemon=True).start()
        else:
            resident.ready = True
            if on_ready is not None:
                on_ready()
        yield
        jobs.close()  # the server stops: no job outlives it

    app = FastAPI(
        lifespan=lifespan,
        title="sfxkit",
        summary="Sound effects for video: the recommendation service over one index.",
        version="1",
    )
    app.state.resident = resident
    app.state.jobs = jobs
    app.state.token = token

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One clear message instead of FastAPI's list: "k: Input should be a valid integer".
        said = []
        for err in exc.errors()[:3]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
            got = repr(err.get("input"))[:60] if err.get("type") != "missing" else None
            said.append(f"{where}: {err.get('msg')}" + (f" (got {got})" if got else ""))
        return JSONResponse(
            status_code=422, content={"detail": "; ".join(said), "error": "InputError"}
        )

    from sfxkit.serve.resident import Busy

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": str(exc), "error": "Busy"},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(SfxkitError)
    async def _sfxkit_error(request: Request, exc: SfxkitError) -> JSONResponse:
        inner = exc.inner if isinstance(exc, _Uploaded) else exc
        return JSONResponse(
            status_code=_status(inner),
            content={
                "detail": str(exc),
                "error": type(inner).__name__,
                "exit_code": exc.exit_code,
                **(exc.fields if isinstance(exc, _Uploaded) else {}),
            },
        )

    def answer(rec: Any, kind: str, results: list[dict[str, Any]], **extra: Any) -> dict:
        return {
            "index": str(resident.path),
            "index_version": int(rec.manifest.version),
            "untrained": rec.untrained,
            "root": (rec.manifest.get("build") or {}).get("root"),
            "kind": kind,
            **extra,
            "results": results,
        }

    def parse_filters(raw: str | None) -> Any:
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"filters is not JSON ({exc.msg}); send an object") from None
        if not isinstance(value, dict):
            raise InputError('filters must be a JSON object, e.g. {"category": ["DOORS"]}')
        from sfxkit.recommender import Filters

        try:
            return Filters.from_any(value)
        except SfxkitError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:  # a value of the wrong type
            raise InputError(
                f"filters: a value of the wrong type ({exc}); e.g. "
                '{"category": ["DOORS"], "min_duration": 1.5, "exclude_flags": ["silent"]}'
            ) from None

    # Where a video_path may lie and get a detailed error; outside, the server does not tell a
    # missing file from one it cannot read or decode (it would tell what exists on its disk).
    catalog_root = (resident.get().manifest.get("build") or {}).get("root")
    media_roots = [*roots, *([Path(catalog_root).resolve()] if catalog_root else [])]

    @contextmanager
    def server_video(raw: str, what: str = "video_path", probe: bool = False) -> Iterator[Path]:
        from sfxkit.errors import MediaError

        path = clean_path(raw, what)
        if inside(path, media_roots):
            yield path
            return
        hidden = InputError(
            f"{what} {raw[:200]!r}: no readable video there (outside "
            f"{' and '.join(str(r) for r in media_roots)} the server does not say why)"
        )
        try:
            if not os.access(path, os.R_OK) or not path.is_file():
                raise hidden
            if probe:
                from sfxkit.media.frames import _open_video

                container, _ = _open_video(path)
                container.close()
            yield path
        except MediaError:
            raise hidden from None

    @contextmanager
    def saved(upload: UploadFile, *, audio: bool = False) -> Iterator[Path]:
        """The upload on disk under the client's file name; errors name the file as sent, in
        the words the CLI prints for the same file."""
        shown = upload.filename or "upload"
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(shown.replace("\\", "/")).name)[-120:]
        tmp = Path(tempfile.mkdtemp(prefix="sfxkit-upload-"))
        path = tmp / (safe.lstrip(".") or "upload")
        try:
            with path.open("wb") as f:
                shutil.copyfileobj(upload.file, f, 1 << 20)
            try:
                yield path
            except SfxkitError as exc:
                if isinstance(exc, _Uploaded):
                    raise
                raise _Uploaded(exc, shown, path, audio) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def entry(label: str, recs: Any) -> dict[str, Any]:
        from sfxkit.recommender import result_entry

        return result_entry(label, recs)

    # ------------------------------------------------------------------ index
    @app.get("/api/index", summary="The loaded index: path, version, models, row count")
    def index_info() -> dict[str, Any]:
        return resident.info(resident.get())

    @app.get("/health", summary="Readiness: 200 once the models are loaded, 503 before")
    async def health() -> Any:
        body = {"ready": resident.ready, "index_version": resident.version}
        return JSONResponse(status_code=200 if resident.ready else 503, content=body)

    # -------------------------------------------------------------- recommend
    @app.post("/api/recommend/frame", summary="Sounds for one frame: an image, or a video + time")
    def recommend_frame(
        image: Annotated[UploadFile | None, File(description="An image (JPEG/PNG/...).")] = None,
        video: Annotated[UploadFile | None, File(description="A video; with `time`.")] = None,
        video_path: str | None = Form(None, description="A video on the server's disk."),
        time: float | None = Form(None, description="Seconds into the video."),
        k: int = Form(5, ge=1),
        dedupe: bool = Form(True, description=DEDUPE_HELP),
        filters: str | None = Form(None, description="JSON object of filters."),
    ) -> dict[str, Any]:
        f = parse_filters(filters)
        if sum(x is not None for x in (image, video, video_path)) != 1:
            raise InputError("send exactly one of: image, video (+ time), video_path (+ time)")
        rec = resident.get()
        if image is not None:
            picture = _decoded_image(image)
            if picture is not None:
                recs = resident.compute(lambda: rec.recommend(picture, k, filters=f, dedupe=dedupe))
            else:  # decoded from a file, so that the error is the one the CLI prints
                with saved(image) as path:
                    recs = resident.compute(
                        lambda: rec.recommend(str(path), k, filters=f, dedupe=dedupe)
                    )
        else:
            if time is None:
                raise InputError("a video frame needs time= (seconds into the video)")
            if video is not None:
                with saved(video) as path:
                    recs = resident.compute(
                        lambda: rec.recommend((str(path), float(time)), k, filters=f, dedupe=dedupe)
                    )
            else:
                with server_video(video_path) as vpath:
                    recs = resident.compute(
                        lambda: rec.recommend(
                            (str(vpath), float(time)), k, filters=f, dedupe=dedupe
                        )
                    )
        return answer(rec, "frame", [entry("frame", recs)])

    @app.post("/api/recommend/text", summary="Sounds for a text description")
    def recommend_text(
        text: str = Form(..., min_length=1),
        k: int = Form(5, ge=1),
        dedupe: bool = Form(True, description=DEDUPE_HELP),
        filters: str | None = Form(None),
    ) -> dict[str, Any]:
        f = parse_filters(filters)
        rec = resident.get()
        recs = resident.compute(lambda: rec.recommend_text(text, k, filters=f, dedupe=dedupe))
        return answer(rec, "text", [entry("text", recs)])

    @app.post("/api/recommend/audio", summary="More like this: sounds near an uploaded sound")
    def recommend_audio(
        audio: Annotated[UploadFile, File(description="A sound file.")],
        k: int = Form(5, ge=1),
        dedupe: bool = Form(True, description=DEDUPE_HELP),
        filters: str | None = Form(None),
    ) -> dict[str, Any]:
        f = parse_filters(filters)
        rec = resident.get()
        with saved(audio, audio=True) as path:
            # decoded here, on this request's thread: only the first minute is kept
            clip, own = rec.audio_query(path)
            recs = resident.compute(
                lambda: rec.recommend_audio(
                    clip.samples,
                    k,
                    sample_rate=clip.sample_rate,
                    filters=f,
                    dedupe=dedupe,
                    query_id=own,
                    exclude_self=own is not None,
                )
            )
        return answer(rec, "audio", [entry("audio", recs)])

    @app.post("/api/recommend/video", summary="Per-shot recommendations for a video")
    def recommend_video(
        video: Annotated[UploadFile | None, File(description="A video file.")] = None,
        video_path: str | None = Form(None),
        k: int = Form(5, ge=1),
        dedupe: bool = Form(True, description=DEDUPE_HELP),
        filters: str | None = Form(None),
    ) -> dict[str, Any]:
        f = parse_filters(filters)
        if (video is None) == (video_path is None):
            raise InputError("send exactly one of: video (an upload), video_path")
        rec = resident.get()
        if video is not None:
            with saved(video) as path:
                shots = resident.compute(
                    lambda: rec.recommend_video(str(path), k, filters=f, dedupe=dedupe)
                )
        else:
            with server_video(str(video_path)) as vpath:
                shots = resident.compute(
                    lambda: rec.recommend_video(str(vpath), k, filters=f, dedupe=dedupe)
                )
        return answer(
            rec,
            "video",
            [
                entry(f"shot {s.shot.index} {s.start:.2f}-{s.end:.2f}s", s.recommendations)
                for s in shots
            ],
            shots=[s.to_dict() for s in shots],
        )

    # ------------------------------------------------------------------ audio
    @app.get("/api/audio/{item_id}", summary="Stream a catalog sound (by its id in the index)")
    def catalog_audio(item_id: str) -> Any:
        rec = resident.get()
        cols = rec._cols
        try:
            row = cols["id"].index(item_id)
        except ValueError:
            raise InputError(f"no catalog item {item_id!r} in this index") from None
        root = (rec.manifest.get("build") or {}).get("root")
        path = catalog_file(cols["path"][row], root)
        if path is None:
            return JSONResponse(
                status_code=404,
                content={"detail": f"catalog item {item_id!r}: its file is not served"},
            )
        return FileResponse(path, filename=path.name)

    # ------------------------------------------------------------------- jobs
    @app.post("/api/jobs/{kind}", summary="Start a soundtrack or compare job for a video")
    def start_job(
        kind: str,
        video_path: str = Form(...),
        options: str | None = Form(None, description="JSON object of keyword arguments."),
    ) -> dict[str, Any]:
        try:
            opts = json.loads(options) if options else {}
        except ValueError as exc:
            raise InputError(f"options is not JSON ({exc}); send an object") from None
        if not isinstance(opts, dict):
            raise InputError("options must be a JSON object of keyword arguments")
        with server_video(video_path, probe=True) as path:
            return jobs.start(kind, str(path), opts).to_dict()

    @app.get("/api/jobs", summary="All jobs")
    def list_jobs() -> list[dict[str, Any]]:
        return [j.to_dict() for j in jobs.all()]

    @app.get("/api/jobs/{job_id}", summary="One job: state, progress, outputs")
    def job_info(job_id: str) -> dict[str, Any]:
        return jobs.get(job_id).to_dict()

    @app.get("/api/jobs/{job_id}/events", summary="Server-sent events: progress until done")
    async def job_events(job_id: str) -> Any:
        job = jobs.get(job_id)
        return StreamingResponse(jobs.events(job), media_type="text/event-stream")

    @app.get("/api/jobs-queue", summary="The job limit, the running jobs and the queue in order")
    def job_queue() -> dict[str, Any]:
        listed = jobs.all()
        return {
            "limit": jobs.limit,
            "running": [j.id for j in listed if j.state == "running"],
            "queued": [j.id for j in sorted(listed, key=lambda j: j.position or 0) if j.position],
        }

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job (queued or running)")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return jobs.cancel(job_id).to_dict()

    @app.get("/api/jobs/{job_id}/files/{relpath:path}", summary="A job's output file")
    def job_output(job_id: str, relpath: str) -> Any:
        job = jobs.get(job_id)
        path = job_file(job.out, relpath)
        if path is None:
            return JSONResponse(status_code=404, content={"detail": f"no output {relpath!r}"})
        return FileResponse(path, filename=path.name)

    # ----------------------------------------------------------------- review
    from urllib.parse import quote

    from sfxkit.serve import review as rv

    # videos opened in /review: their number of shots, planned cue keys and duration
    reviewed: dict[Path, dict[str, Any]] = {}
    token_q = f"?token={quote(token)}" if token else ""

    def review_out(video: Path, out: Any) -> Path:
        if out is None or out == "":
            return rv.default_out(video, resident.path)
        if not isinstance(out, str):
            raise InputError(f"out must be a folder path, got {type(out).__name__}")
        return output_folder(out, roots)

    def reviewed_video(raw: Any) -> Path:
        if not isinstance(raw, str):
            raise InputError(f"video must be a path, got {type(raw).__name__}")
        video = clean_path(raw, "video")
        if video not in reviewed:
            raise InputError(f"{video}: open /review?video=... for it first")
        return video

    @app.get("/review", summary="The review page of a video", response_class=HTMLResponse)
    def review_page(
        video: str,
        out: str | None = None,
        k: int = 5,
        policy: str = "auto",
        variant: str | None = None,
        steps: int | None = None,
        follow_motion: bool | None = None,
        align: bool | None = None,
        layers: str | None = None,
    ) -> Any:
        if layers not in (None, "shot", "auto"):
            raise InputError(f"layers={layers!r}: use shot or auto")
        if k < 1 or k > 50:
            raise InputError(f"k={k}: show 1 to 50 candidates per cue")
        review_out(clean_path(video, "video"), out)  # an out= it may not write: refused first
        with server_video(video, "video", probe=True) as path:
            rec = resident.get()
            shots, timeline = resident.compute(
                lambda: rv.plan_page(rec, path, k, policy, layers or "shot")
            )
        reviewed[path] = {
            "shots": len(timeline["shots"]),
            "cues": {c["key"] for c in timeline["cues"] if c["role"] != "shot"},
            "duration": timeline["duration"],
        }
        dest = review_out(path, out)
        options = rv.export_options(
            {
                key: v
                for key, v in {
                    "policy": policy,
                    "variant": variant,
                    "layers": layers,
                    "k": k,
                    "steps": steps,
                    "follow_motion": follow_motion,
                    "align": align,
                }.items()
                if v is not None
            }
        )
        session = rv.read_session(dest)
        mode = layers or "shot"
        other = (session.get("cues") or session.get("added")) if mode == "shot" else None
        if (session.get("shots") if mode == "auto" else other) and "warning" not in session:
            session["warning"] = (
                f"{dest / rv.SESSION} holds choices for layers="
                f"{'shot' if mode == 'auto' else 'auto'}, which this layers={mode} export "
                f"refuses: open the page with layers={'shot' if mode == 'auto' else 'auto'}, "
                "or another out="
            )
        command = rv.reproduce_command(path, resident.path, dest, options)
        amp = "&" if token_q else ""
        config = {
            "video": str(path),
            "out": str(dest),
            "options": options,
            "session": session,
            "command": command,
            "timeline": {**timeline, "mix": rv.mix_settings(options)},
            "token": token,
            "token_q": token_q,
            "audio_base": "/api/audio/",
        }
        from sfxkit._templates import render

        html = render(
            "review.html.j2",
            video=str(path),
            video_name=path.name,
            video_url=f"/api/review/video?video={quote(str(path))}{amp}{token_q[1:]}",
            keyframe_url=f"/api/review/keyframe?video={quote(str(path))}{amp}{token_q[1:]}",
            audio_base="/api/audio/",
            token_q=token_q,
            shots=shots,
            index_version=int(rec.manifest.version),
            untrained=rec.untrained,
            session_path=str(dest / rv.SESSION),
            session_warning=session.get("warning"),
            layers=timeline["layers"],
            lanes=timeline["lanes"],
            zoom=max(20, min(400, int(1050 / max(timeline["duration"], 1.0) / 10) * 10)),
            command=command,
            config_json=json.dumps(config).replace("<", "\\u003c"),
        )
        return HTMLResponse(html)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Any:
        files = {p.name: p for p in rv.STATIC.iterdir() if p.is_file()}
        if name not in files:
            return JSONResponse(status_code=404, content={"detail": f"no static file {name!r}"})
        return FileResponse(files[name])

    @app.get("/api/review/keyframe", summary="A video frame as PNG (for the review page)")
    def keyframe(video: str, t: float) -> Any:
        from fastapi import Response

        path = clean_path(video, "video")
        if path not in reviewed:
            return JSONResponse(status_code=404, content={"detail": "open /review for it first"})
        return Response(rv.keyframe_png(path, t), media_type="image/png")

    @app.get("/api/review/video", summary="The video under review (only one opened in /review)")
    def review_video(video: str) -> Any:
        path = clean_path(video, "video")
        if path not in reviewed:
            return JSONResponse(status_code=404, content={"detail": "open /review for it first"})
        return FileResponse(path)

    @app.get("/api/review/session", summary="The saved choices of a review")
    def get_session(video: str, out: str | None = None) -> dict[str, Any]:
        return rv.read_session(review_out(clean_path(video, "video"), out))

    @app.post("/api/review/session", summary="Save the choices of a review (the session file)")
    def put_session(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        video = reviewed_video(body.get("video"))
        seen = reviewed[video]
        path = rv.write_session(
            review_out(video, body.get("out")),
            video,
            body.get("shots") or {},
            seen["shots"],
            cues=body.get("cues"),
            added=body.get("added"),
            cue_keys=seen["cues"],
            duration=seen["duration"],
        )
        return {"session": str(path), **json.loads(path.read_text())}

    @app.post("/api/review/export", summary="Export the reviewed soundtrack (a soundtrack job)")
    def export(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        video = reviewed_video(body.get("video"))
        dest = review_out(video, body.get("out"))
        session = dest / rv.SESSION
        given = body.get("options") or {}
        if not isinstance(given, dict):
            raise InputError("options must be a JSON object of keyword arguments")
        options = rv.export_options(dict(given))
        rv.check_page_options(options)
        if rv.may_generate(options, rv.read_session(dest)):
            rv.check_generator_here(options, retrieve=True)
        command = rv.reproduce_command(video, resident.path, dest, options)
        if session.is_file():
            options["choices"] = str(session)
        # the export goes where the page was asked to put it (out=), beside its choices
        job = jobs.start("soundtrack", str(video), options, out=dest)
        return {**job.to_dict(), "out": str(dest), "command": command}

    @app.post(
        "/api/review/generate",
        summary="Generate one shot's sound to audition (a generate job; as the export would)",
    )
    def generate(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        video = reviewed_video(body.get("video"))
        shot, cue = body.get("shot"), body.get("cue")
        if cue is not None:  # a bed or a spot of a layered soundtrack
            if not isinstance(cue, str) or cue not in reviewed[video]["cues"]:
                raise InputError(
                    f"cue {cue!r}: name a planned cue of this review "
                    f"({', '.join(sorted(reviewed[video]['cues'])) or 'none'})"
                )
        elif not isinstance(shot, int) or isinstance(shot, bool):
            raise InputError(f"shot must be a shot number, got {shot!r}")
        given = body.get("options") or {}
        if not isinstance(given, dict):
            raise InputError("options must be a JSON object of keyword arguments")
        options: dict[str, Any] = {k: given[k] for k in rv.GENERATE_OPTIONS if k in given}
        rv.check_generator_here(options, retrieve=False)
        session = review_out(video, body.get("out")) / rv.SESSION
        if session.is_file():  # the chosen sound leads the prompt, as in the export
            options["choices"] = str(session)
        if cue is not None:
            options.pop("crossfade", None)  # cues have no shot handles
        which = {"cue": cue} if cue is not None else {"shot": shot}
        return jobs.start("generate", str(video), {**options, **which}).to_dict()

    @app.post("/api/recommend/similar", summary="More like this: sounds near a catalog item")
    def similar(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        rec = resident.get()
        cols = rec._cols
        item = str(body.get("id", ""))
        if item not in cols["id"]:
            raise InputError(f"no catalog item {item!r} in this index")
        path = cols["path"][cols["id"].index(item)]
        k = body.get("k", 5)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InputError(f"k must be a whole number >= 1, got {k!r}")
        recs = resident.compute(lambda: rec.recommend_audio(path, k))
        return answer(rec, "audio", [entry("similar", recs)])

    @app.get("/", include_in_schema=False)
    def home() -> Any:
        return RedirectResponse("/docs")

    guard = Guard(app, token=token, loopback=loopback, max_upload=int(max_upload_mb * 1e6))
    guard.state = app.state
    return guard
