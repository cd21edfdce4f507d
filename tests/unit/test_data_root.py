"""Dataset resolution: data_root alone, else $SNNKIT_DATA > system > cache > download > DataError."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from snnkit.data import images, load_fashion_mnist, registry, root, write_idx
from snnkit.errors import ConfigError, DataError

REAL_DOWNLOAD = root.download_url  # captured before the autouse fixture replaces it
FILES = [
    ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"),
    ("t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"),
]


pytestmark = pytest.mark.usefixtures("offline_data")


def _make(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, _ in FILES:
        (directory / name).write_bytes(b"x")
    return directory


def _where(paths):
    assert len({p.parent for p in paths}) == 1
    return paths[0].parent


def test_order_explicit_env_system_cache(monkeypatch, tmp_path):
    explicit, env, system = _make(tmp_path / "a"), _make(tmp_path / "b"), _make(tmp_path / "c")
    cache = _make(tmp_path / "cache" / "snnkit" / "data" / "fashion-mnist")
    monkeypatch.setenv(root.ENV_VAR, str(env))
    monkeypatch.setattr(root, "system_locations", lambda source: (system,))
    assert _where(root.find_files("fashionmnist", FILES, data_root=explicit)) == explicit
    assert _where(root.find_files("fashionmnist", FILES)) == env
    monkeypatch.delenv(root.ENV_VAR)
    assert _where(root.find_files("fashionmnist", FILES)) == system
    monkeypatch.setattr(root, "system_locations", lambda source: ())
    assert _where(root.find_files("fashionmnist", FILES)) == cache


@pytest.mark.parametrize("state", ["empty", "misspelt", "incomplete"])
def test_explicit_root_without_the_files_is_an_error_naming_it(monkeypatch, tmp_path, state):
    """Bug 5: an explicit data_root never falls through to $SNNKIT_DATA, system copies or the cache."""
    env, system = _make(tmp_path / "env"), _make(tmp_path / "sys")
    _make(tmp_path / "cache" / "snnkit" / "data" / "fashion-mnist")
    monkeypatch.setenv(root.ENV_VAR, str(env))
    monkeypatch.setattr(root, "system_locations", lambda source: (system,))
    mine = tmp_path / "mine"
    if state == "empty":
        mine.mkdir()
    elif state == "incomplete":
        (mine / "fashion-mnist").mkdir(parents=True)
        (mine / "fashion-mnist" / FILES[0][0]).write_bytes(b"x")
    for download in (False, True):  # an offline download attempt fails as well
        with pytest.raises(DataError) as info:
            root.find_files("fashionmnist", FILES, data_root=mine, download=download,
                            downloader=_offline)
        msg = str(info.value)
        assert str(mine) in msg and "data_root" in msg
        assert str(env) not in msg and str(system) not in msg  # nothing else was looked at
        if state == "misspelt":
            assert "does not exist" in msg
        elif state == "incomplete":
            assert f"missing {FILES[1][0]}" in msg and str(mine / "fashion-mnist") in msg
        else:
            assert "none of" in msg
    # without data_root the same call finds the $SNNKIT_DATA copy
    assert _where(root.find_files("fashionmnist", FILES)) == env


def _offline(url, dest, md5):
    raise DataError(f"download of {url} failed: URLError: no network")


def test_subdirectories_and_alternative_names(tmp_path):
    d = tmp_path / "r" / "FashionMNIST" / "raw"  # torchvision's layout
    d.mkdir(parents=True)
    for _, raw in FILES:
        (d / raw).write_bytes(b"x")  # uncompressed names
    got = root.find_files("fashionmnist", FILES, data_root=tmp_path / "r")
    assert [p.name for p in got] == [raw for _, raw in FILES]


def test_files_split_across_directories_do_not_count(tmp_path):
    (tmp_path / FILES[0][0]).write_bytes(b"x")
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / FILES[1][0]).write_bytes(b"x")
    with pytest.raises(DataError):
        root.find_files("fashionmnist", FILES, data_root=tmp_path, download=False)


def test_download_is_last_and_goes_to_data_root(monkeypatch, tmp_path):
    system = _make(tmp_path / "sys")
    monkeypatch.setattr(root, "system_locations", lambda source: (system,))
    calls = []

    def fake(url, dest, md5):
        calls.append(url)

    assert _where(root.find_files("fashionmnist", FILES, downloader=fake)) == system
    assert calls == []  # found locally: no download

    monkeypatch.setattr(root, "system_locations", lambda source: ())
    payload = {r.filename: f"content of {r.filename}".encode() for r in images.FASHION_MNIST.remotes}
    source = dataclasses.replace(
        images.FASHION_MNIST,
        remotes=tuple(
            dataclasses.replace(r, md5=hashlib.md5(payload[r.filename]).hexdigest())
            for r in images.FASHION_MNIST.remotes
        ),
    )

    def writer(url, dest, md5):
        calls.append(url)
        dest.write_bytes(payload[dest.name])

    got = root.find_files(source, FILES, data_root=tmp_path / "dl", downloader=writer)
    assert _where(got) == tmp_path / "dl" / "fashion-mnist"
    assert [p.read_bytes() for p in got] == [payload[n] for n, _ in FILES]
    assert len(calls) == 2 and all(u.startswith("http") for u in calls)
    # without data_root or env, downloads land in the cache
    got = root.find_files(source, [("train-labels-idx1-ubyte.gz",)], downloader=writer)
    assert _where(got) == tmp_path / "cache" / "snnkit" / "data" / "fashion-mnist"


def test_download_with_bad_checksum_is_rejected_and_removed(tmp_path):
    tried = []

    def corrupt(url, dest, md5):
        tried.append(url)
        dest.write_bytes(b"not the file")

    with pytest.raises(DataError, match="checksum mismatch"):
        root.find_files("fashionmnist", FILES, data_root=tmp_path, downloader=corrupt)
    assert len(tried) == len(images.FASHION_MNIST.remotes[0].urls)  # every mirror tried
    assert not any(tmp_path.rglob("*.gz"))


def test_missing_everywhere_message(monkeypatch, tmp_path):
    system = tmp_path / "usr-share"
    monkeypatch.setattr(root, "system_locations", lambda source: (system,))
    monkeypatch.setenv(root.ENV_VAR, str(tmp_path / "mine"))
    with pytest.raises(DataError) as info:
        load_fashion_mnist("test", download=False)
    msg = str(info.value)
    for needle in (
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte",
        str(tmp_path / "mine" / "fashion-mnist"),
        str(system),
        str(tmp_path / "cache" / "snnkit" / "data"),
        "data_root",
        "SNNKIT_DATA",
        "download disabled",
        "apt-get install dataset-fashion-mnist",
    ):
        assert needle in msg, needle


def test_missing_everywhere_with_failed_download(tmp_path):
    def offline_dl(url, dest, md5):
        raise DataError(f"download of {url} failed: URLError: no network")

    with pytest.raises(DataError, match="no network") as info:
        root.find_files("mnist", [("train-images-idx3-ubyte.gz",)], downloader=offline_dl, what="train")
    assert "MNIST train" in str(info.value)


def test_sources_by_registered_name():
    with pytest.raises(ConfigError, match="svhn") as info:
        root.find_files("svhn", ["x"])
    assert "fashionmnist" in str(info.value)  # lists the registered names
    with pytest.raises(DataError, match="shipped with snnkit"):
        root.find_files("mnist-embedded", ["x"])


def test_download_url_atomic_and_checked(monkeypatch, tmp_path):
    body = b"hello dataset"

    def fake_urlopen(url, timeout):
        return io.BytesIO(body)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    dest = tmp_path / "f.gz"
    real = REAL_DOWNLOAD
    real("http://example.invalid/f.gz", dest, hashlib.md5(body).hexdigest())
    assert dest.read_bytes() == body
    with pytest.raises(DataError, match="checksum mismatch"):
        real("http://example.invalid/g.gz", tmp_path / "g.gz", "0" * 32)
    assert not (tmp_path / "g.gz").exists() and list(tmp_path.glob(".g.gz*")) == []

    def refused(url, timeout):
        raise OSError("connection refused")

    monkeypatch.setattr(urllib.request, "urlopen", refused)
    with pytest.raises(DataError, match="connection refused"):
        real("http://example.invalid/h.gz", tmp_path / "h.gz", "0" * 32)
    assert not (tmp_path / "h.gz").exists()


def test_archive_download_is_extracted(monkeypatch, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    blob = buf.getvalue()
    source = root.Source(
        "cifar10", "CIFAR-10", ("cifar10",),
        (root.Remote("c.tar.gz", ("http://x/c",), hashlib.md5(blob).hexdigest(), True),),
    )  # fmt: skip
    got = root.find_files(
        source,
        ["cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"],
        data_root=tmp_path,
        downloader=lambda url, dest, md5: dest.write_bytes(blob),
    )
    assert got[0] == tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
    assert got[0].read_bytes() == b"abc"


def test_real_idx_download_path_end_to_end(monkeypatch, tmp_path):
    """A downloaded, checksum-verified .gz set is then read by the IDX loader."""
    imgs = np.zeros((2, 28, 28), np.uint8)
    blobs = {}
    for name, arr in (
        ("t10k-images-idx3-ubyte.gz", imgs),
        ("t10k-labels-idx1-ubyte.gz", np.array([1, 2], np.uint8)),
    ):
        p = write_idx(tmp_path / "src" / name, arr)
        blobs[name] = p.read_bytes()
    assert gzip.decompress(blobs["t10k-labels-idx1-ubyte.gz"])[:4] == b"\x00\x00\x08\x01"
    source = root.Source(
        "fashionmnist", "Fashion-MNIST", ("fashion-mnist",),
        tuple(root.Remote(n, (f"http://x/{n}",), hashlib.md5(b).hexdigest()) for n, b in blobs.items()),
    )  # fmt: skip
    spec = registry.dataset_spec("fashionmnist")
    monkeypatch.setitem(registry._REGISTRY, "fashionmnist", dataclasses.replace(spec, files=source))
    monkeypatch.setattr(root, "download_url", lambda url, dest, md5: dest.write_bytes(blobs[dest.name]))
    ds = load_fashion_mnist("test", data_root=tmp_path / "dst", verify=False)
    assert ds.targets.tolist() == [1, 2]
