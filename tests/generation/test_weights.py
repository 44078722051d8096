"""Finding, pulling and verifying MMAudio weight files (downloads served from 127.0.0.1)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sfxkit.errors import ModelError, WeightsMissingError
from sfxkit.generation.mmaudio.variants import VARIANTS, get_variant
from sfxkit.models import mmaudio_files
from sfxkit.models.mmaudio_files import WeightFile, download, locate, pull, weight_files

FILES = {"/a/net.pth": b"network bytes " * 1000, "/b/vocoder.pt": b"vocoder" * 333}


HITS: list[str] = []


@pytest.fixture()
def server() -> Iterator[str]:
    hits = HITS
    hits.clear()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            hits.append(self.path)
            body = FILES.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_every_real_variant_lists_its_files_with_reference_checksums() -> None:
    names = {f.relpath: f for f in weight_files("large_44k_v2")}
    assert names["mmaudio_large_44k_v2.pth"].md5 == "01ad4464f049b2d7efdaa4c1a59b8dfe"
    assert names["mmaudio_large_44k_v2.pth"].licence == "CC-BY-NC-4.0"
    assert names["v1-44.pth"].md5 == "fab020275fa44c6589820ce025191600"
    assert "bigvgan_v2_44khz_128band_512x/bigvgan_generator.pt" in names
    assert "bigvgan_v2_44khz_128band_512x/config.json" in names
    assert "DFN5B-CLIP-ViT-H-14-384/open_clip_config.json" in names
    assert "synchformer_state_dict.pth" in names
    small = {f.relpath for f in weight_files("small_16k")}
    assert {"mmaudio_small_16k.pth", "v1-16.pth", "best_netG.pt"} <= small
    assert not any("bigvgan_v2" in p for p in small)
    assert weight_files("tiny_44k") == ()


def test_the_file_table_and_the_variant_table_know_the_same_variants() -> None:
    # sfxkit.models.mmaudio_files decides from the name alone (models may not import generation);
    # this keeps it in step with sfxkit.generation.mmaudio.variants.
    accepted = set(mmaudio_files._NETWORK_FILES) | set(mmaudio_files._TINY_VARIANTS)
    assert accepted == set(VARIANTS)
    for name, cfg in VARIANTS.items():
        assert mmaudio_files._variant_mode(name) == cfg.mode, name
        files = weight_files(f"mmaudio:{name}")
        if cfg.tiny:
            assert files == ()
            continue
        assert files[0] is mmaudio_files._NETWORK_FILES[name]
        vae = mmaudio_files.VAE_16K if cfg.mode == "16k" else mmaudio_files.VAE_44K
        assert vae in files, name


def test_an_unknown_variant_is_refused_with_the_known_names() -> None:
    with pytest.raises(ModelError) as err:
        weight_files("huge_48k")
    msg = str(err.value)
    assert "unknown MMAudio variant 'huge_48k'" in msg
    assert all(name in msg for name in VARIANTS)
    with pytest.raises(ModelError) as same:
        get_variant("huge_48k")
    assert msg == str(same.value)


def test_missing_weights_name_the_file_and_the_pull_command() -> None:
    with pytest.raises(WeightsMissingError) as err:
        locate("small_16k")
    msg = str(err.value)
    assert "mmaudio_small_16k.pth" in msg
    assert "sfxkit models pull mmaudio:small_16k" in msg
    assert "weights/mmaudio" in msg  # where it looked


def _touch_all(root: Path, variant: str) -> None:
    for spec in weight_files(variant):
        p = root / spec.relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_locate_searches_weights_dir_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_root = Path(mmaudio_files.default_pull_dir())
    _touch_all(cache_root, "small_16k")
    found = locate("small_16k")
    assert found["network"] == cache_root / "mmaudio_small_16k.pth"
    assert found["vocoder"].name == "best_netG.pt"
    # SFXKIT_WEIGHTS_DIR/mmaudio wins over the cache for the files it has.
    wdir = tmp_path / "wd"
    (wdir / "mmaudio").mkdir(parents=True)
    (wdir / "mmaudio" / "mmaudio_small_16k.pth").write_bytes(b"y")
    monkeypatch.setenv("SFXKIT_WEIGHTS_DIR", str(wdir))
    found = locate("small_16k")
    assert found["network"] == wdir / "mmaudio" / "mmaudio_small_16k.pth"
    assert found["vae"] == cache_root / "v1-16.pth"
    # An explicit weights_dir comes first of all, with or without the mmaudio/ level.
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    (explicit / "mmaudio_small_16k.pth").write_bytes(b"z")
    assert (
        locate("small_16k", weights_dir=explicit)["network"] == explicit / "mmaudio_small_16k.pth"
    )


def test_clip_safetensors_export_is_accepted(tmp_path: Path) -> None:
    root = Path(mmaudio_files.default_pull_dir())
    _touch_all(root, "small_16k")
    (root / "DFN5B-CLIP-ViT-H-14-384" / "open_clip_pytorch_model.bin").unlink()
    st = root / "DFN5B-CLIP-ViT-H-14-384" / "open_clip_model.safetensors"
    st.write_bytes(b"s")
    assert locate("small_16k")["clip_weights"] == st


@pytest.mark.network
def test_download_with_good_checksum_lands_atomically(server: str, tmp_path: Path) -> None:
    body = FILES["/a/net.pth"]
    spec = WeightFile("network", "sub/net.pth", f"{server}/a/net.pth", _md5(body), "CC-BY-NC-4.0")
    path = download(spec, tmp_path, progress=False)
    assert path == tmp_path / "sub" / "net.pth"
    assert path.read_bytes() == body
    assert [p.name for p in path.parent.iterdir()] == ["net.pth"]  # no temp file left


@pytest.mark.network
def test_download_with_bad_checksum_leaves_nothing(server: str, tmp_path: Path) -> None:
    spec = WeightFile("network", "net.pth", f"{server}/a/net.pth", "0" * 32, "CC-BY-NC-4.0")
    with pytest.raises(ModelError) as err:
        download(spec, tmp_path, progress=False)
    assert "checksum mismatch" in str(err.value)
    assert "net.pth" in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.network
def test_download_of_a_missing_url_is_a_clear_error(server: str, tmp_path: Path) -> None:
    spec = WeightFile("network", "gone.pth", f"{server}/nope.pth", None, "MIT")
    with pytest.raises(ModelError, match="download of gone.pth failed"):
        download(spec, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.network
def test_pull_downloads_only_missing_files(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = (
        WeightFile(
            "network", "net.pth", f"{server}/a/net.pth", _md5(FILES["/a/net.pth"]), "CC-BY-NC-4.0"
        ),
        WeightFile("vocoder", "voc/vocoder.pt", f"{server}/b/vocoder.pt", None, "MIT"),
    )
    monkeypatch.setattr(mmaudio_files, "weight_files", lambda variant, **_: specs)
    root = tmp_path / "root"  # a weights root: MMAudio files go to <root>/mmaudio/
    dest = root / "mmaudio"
    (dest / "voc").mkdir(parents=True)
    (dest / "voc" / "vocoder.pt").write_bytes(b"already here")
    paths = pull("small_16k", dest=root, progress=False)
    assert paths == [dest / "net.pth", dest / "voc" / "vocoder.pt"]
    assert (dest / "net.pth").read_bytes() == FILES["/a/net.pth"]
    assert (dest / "voc" / "vocoder.pt").read_bytes() == b"already here"
    assert HITS == ["/a/net.pth"]
