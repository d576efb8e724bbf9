"""Tests of tinysae.datasets' IDX reader and load_mnist, on small IDX files the tests write.

Nothing is downloaded: :func:`idx_bytes` writes the IDX format (the magic number ``00 00 08 d``,
``d`` big-endian 32-bit sizes, the bytes), :func:`write_idx` stores it plain or gzipped.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import tinysae
from tinysae.datasets import load_mnist, read_idx

#: The MNIST database's four files: (images, labels) of the training and the test split.
NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8, 1 to 255 dimensions) in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write ``array`` as an IDX file at ``path`` (``path.gz``, gzipped, if ``gz``); return the path."""
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def random_split(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` random uint8 images ``(m, 28, 28)`` and their uint8 labels 0..9 ``(m,)``."""
    return rng.integers(0, 256, size=(m, 28, 28), dtype=np.uint8), rng.integers(0, 10, m, dtype=np.uint8)


def write_mnist(
    directory: Path, m_train: int = 3, m_test: int = 2, gz: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Four valid MNIST files in ``directory``; returns ``{name: array written}``."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, m in (("train", m_train), ("test", m_test)):
        images, labels = random_split(rng, m)
        for name, array in zip(NAMES[split], (images, labels)):
            write_idx(directory / name, array, gz=gz)
            arrays[name] = array
    return arrays


def check_split(X: np.ndarray, y: np.ndarray, images: np.ndarray, labels: np.ndarray) -> None:
    """``(X, y)`` is exactly what load_mnist must make of uint8 ``images (m, 28, 28)``, ``labels (m,)``."""
    m = len(images)
    assert X.shape == (m, 784) and X.dtype == np.float64
    assert y.shape == (m,) and y.dtype == np.int64
    assert np.all((X >= 0.0) & (X <= 1.0))
    # Row by row: pixel (r, c) of image i is X[i, 28 r + c]; the value is its byte / 255.
    for i in range(m):
        for r, c in ((0, 0), (0, 27), (1, 0), (13, 5), (27, 27)):
            assert X[i, 28 * r + c] == images[i, r, c] / 255.0
    np.testing.assert_array_equal(X, images.reshape(m, 784).astype(np.float64) / 255.0)
    np.testing.assert_array_equal(X * 255.0, images.reshape(m, 784))
    np.testing.assert_array_equal(y, labels)


# ---------------------------------------------------------------- read_idx


@settings(max_examples=60)
@given(
    array=arrays(np.uint8, array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)),
    gz=st.booleans(),
)
def test_read_idx_round_trip(tmp_path_factory, array: np.ndarray, gz: bool) -> None:
    path = write_idx(tmp_path_factory.mktemp("idx") / "data-idx", array, gz=gz)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable and back.flags.c_contiguous
    np.testing.assert_array_equal(read_idx(str(path)), array)


def test_read_idx_detects_gzip_by_content(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "plain.gz").write_bytes(idx_bytes(array))
    (tmp_path / "gzipped").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped"), array)


VALID = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))  # header 16 bytes, data 24
GZIPPED = gzip.compress(VALID, mtime=0)

BAD_FILES = {
    "empty": (b"", r"is truncated: 0 bytes, too few for an IDX magic number \(4\)"),
    "three bytes": (b"\x00\x00\x08", "is truncated: 3 bytes"),
    "text": (b"label,pixel\n7,0\n", "is not an IDX file: its magic number is 6c 61 62 65, not 00 00 08"),
    "zip": (b"PK\x03\x04" + VALID[4:], "is not an IDX file: its magic number is 50 4b 03 04"),
    "no dimensions": (b"\x00\x00\x08\x00\x07", r"magic number is 00 00 08 00, .*dimensions \(1 or more\)"),
    "float type": (VALID[:2] + b"\x0d" + VALID[3:], r"type code 0x0d, not 0x08 \(unsigned byte\)"),
    "signed byte type": (VALID[:2] + b"\x09" + VALID[3:], "type code 0x09, not 0x08"),
    "sizes cut": (VALID[:10], r"truncated: 10 bytes, too few for the magic number and the 3 sizes .* \(16 "),
    "data cut": (
        VALID[:-1],
        r"is truncated: its sizes \(2, 3, 4\) need 24 data bytes after the 16-byte header, and it has 23",
    ),
    "header only": (VALID[:16], r"is truncated: its sizes \(2, 3, 4\) need 24 .* it has 0"),
    "trailing bytes": (VALID + bytes(3), r"has trailing bytes: its sizes \(2, 3, 4\) need 24 .* has 27"),
    "huge size": (b"\x00\x00\x08\x01\xff\xff\xff\xff\x00", r"truncated: its sizes \(4294967295,\) need 42"),
    "gzip cut": (GZIPPED[:-10], "is a damaged gzip file"),
    "gzip bad crc": (GZIPPED[:-8] + bytes(4) + GZIPPED[-4:], "is a damaged gzip file: CRC check failed"),
    "gzip bad data": (GZIPPED[:10] + b"\xff" * 30, "is a damaged gzip file"),
    "gzipped, data cut": (gzip.compress(VALID[:-5]), "is truncated: .* it has 19"),
    "gzipped text": (gzip.compress(b"hello world"), "is not an IDX file"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_read_idx_rejects_bad_files(tmp_path: Path, case: str) -> None:
    data, match = BAD_FILES[case]
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(info.value).startswith(str(path))


@settings(max_examples=60)
@given(gz=st.booleans(), data=st.data())
def test_damaged_files_raise_value_error_or_read_intact(
    tmp_path_factory, gz: bool, data: st.DataObject
) -> None:
    """Any truncation, and any byte flips, of a valid file (plain or gzipped): a ValueError that
    names the file, or (a flip in a gzip header field nothing checks, e.g. its time) the array."""
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    raw = bytearray(gzip.compress(idx_bytes(array)) if gz else idx_bytes(array))
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        for position in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4), label="at"):
            raw[position] ^= data.draw(st.integers(1, 255), label="mask")
    path = tmp_path_factory.mktemp("damaged") / "train-images-idx3-ubyte"
    path.write_bytes(bytes(raw))
    try:
        back = read_idx(path)
    except ValueError as exc:
        assert str(exc).startswith(str(path))
    else:  # a plain file's flips land in the data (read as is) or the sizes (keeping their product)
        assert back.size == array.size
        if gz:
            np.testing.assert_array_equal(back, array)


def test_read_idx_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-idx1-ubyte")


# ---------------------------------------------------------------- load_mnist


@settings(max_examples=30)
@given(
    m_train=st.integers(0, 6),
    m_test=st.integers(0, 4),
    gz=st.lists(st.booleans(), min_size=4, max_size=4),
    data=st.data(),
)
def test_load_mnist_round_trip(tmp_path_factory, m_train: int, m_test: int, gz: list[bool],
                               data: st.DataObject) -> None:
    directory = tmp_path_factory.mktemp("mnist")
    zipped = iter(gz)
    written = {}
    for split, m in (("train", m_train), ("test", m_test)):
        images = data.draw(arrays(np.uint8, (m, 28, 28)), label=f"{split} images")
        labels = data.draw(arrays(np.uint8, (m,), elements=st.integers(0, 9)), label=f"{split} labels")
        for name, array in zip(NAMES[split], (images, labels)):
            write_idx(directory / name, array, gz=next(zipped))
        written[split] = images, labels

    X_train, y_train, X_test, y_test = load_mnist(directory)
    check_split(X_train, y_train, *written["train"])
    check_split(X_test, y_test, *written["test"])
    assert np.array_equal(load_mnist(str(directory))[0], X_train)


def test_load_mnist_gives_every_value_exactly(tmp_path: Path) -> None:
    images = (np.arange(4 * 784) % 256).astype(np.uint8).reshape(4, 28, 28)  # pixel j of image 0: j % 256
    labels = np.array([0, 9, 3, 7], dtype=np.uint8)
    for split in ("train", "test"):
        write_idx(tmp_path / NAMES[split][0], images, gz=split == "test")
        write_idx(tmp_path / NAMES[split][1], labels, gz=split == "train")
    X_train, y_train, X_test, y_test = load_mnist(tmp_path)
    for X, y in ((X_train, y_train), (X_test, y_test)):
        check_split(X, y, images, labels)
        np.testing.assert_array_equal(np.unique(X * 255.0), np.arange(256))
        assert X.min() == 0.0 and X.max() == 1.0
        assert X[0, 1] == 1 / 255 and X[0, 28] == 28 / 255 and X[0, 255] == 1.0 and X[0, 256] == 0.0
    np.testing.assert_array_equal(y_train, [0, 9, 3, 7])


def test_load_mnist_prefers_the_plain_file_to_its_gz(tmp_path: Path) -> None:
    plain = write_mnist(tmp_path, gz=False, seed=0)
    zipped = write_mnist(tmp_path, gz=True, seed=1)  # other values in every .gz
    X_train, y_train, X_test, y_test = load_mnist(tmp_path)
    check_split(X_train, y_train, plain[NAMES["train"][0]], plain[NAMES["train"][1]])
    check_split(X_test, y_test, plain[NAMES["test"][0]], plain[NAMES["test"][1]])

    (tmp_path / NAMES["test"][0]).unlink()  # now the test images come from the .gz
    X_test, y_test = load_mnist(tmp_path)[2:]
    check_split(X_test, y_test, zipped[NAMES["test"][0]], plain[NAMES["test"][1]])


def test_load_mnist_is_exported() -> None:
    assert tinysae.load_mnist is load_mnist and "load_mnist" in tinysae.__all__


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("missing", [0, 1])
def test_load_mnist_names_a_missing_file(tmp_path: Path, split: str, missing: int) -> None:
    write_mnist(tmp_path, gz=True)
    name = NAMES[split][missing]
    (tmp_path / f"{name}.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert f"looked in {tmp_path} for the MNIST database's four IDX files" in message
    assert all(other in message for names in NAMES.values() for other in names)
    assert "each plain or with .gz" in message
    assert message.split("missing: ")[1].startswith(f"{name}. Download")


def test_load_mnist_of_an_empty_or_missing_directory(tmp_path: Path) -> None:
    everything = ", ".join(name for names in NAMES.values() for name in names)
    with pytest.raises(FileNotFoundError, match=re.escape(f"missing: {everything}. Download")):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'nowhere'} (no such directory)")):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_does_not_take_a_directory_for_a_file(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / NAMES["train"][1]).unlink()
    (tmp_path / NAMES["train"][1]).mkdir()
    with pytest.raises(FileNotFoundError, match=f"missing: {NAMES['train'][1]}. Download"):
        load_mnist(tmp_path)


def bad_split(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Ways one split can be wrong: ``{case: (images, labels, message)}`` with ``{images}`` and
    ``{labels}`` standing for the paths the message names."""
    images, labels = random_split(rng, 3)
    return {
        "32 x 32 images": (
            rng.integers(0, 256, (3, 32, 32), dtype=np.uint8), labels,
            r"{images} must hold 28 x 28 images, shape \(n_images, 28, 28\); found shape \(3, 32, 32\)",
        ),
        "28 x 27 images": (images[:, :, :27], labels, r"found shape \(3, 28, 27\)"),
        "flat images": (images.reshape(3, 784), labels, r"{images} must hold 28 x 28 .* shape \(3, 784\)"),
        "one image per file": (images[0], labels, r"found shape \(28, 28\)"),
        "2-D labels": (images, labels.reshape(3, 1),
                       r"{labels} must hold 1-D labels, shape \(n_labels,\); found shape \(3, 1\)"),
        "label 10": (images, np.array([3, 10, 255], dtype=np.uint8),
                     r"{labels} must hold digits 0..9; found 10 at index 1 \(labels outside 0..9: 2 of 3\)"),
        "fewer labels": (images, labels[:2], "{images} holds 3 images but {labels} holds 2 labels"),
        "more labels": (images[:1], labels, "{images} holds 1 images but {labels} holds 3 labels"),
    }


CASES = list(bad_split(np.random.default_rng(0)))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("case", CASES)
def test_load_mnist_rejects_a_bad_split(tmp_path: Path, case: str, split: str, gz: bool) -> None:
    write_mnist(tmp_path, gz=gz)
    images, labels, message = bad_split(np.random.default_rng(1))[case]
    images_path = write_idx(tmp_path / NAMES[split][0], images, gz=gz)
    labels_path = write_idx(tmp_path / NAMES[split][1], labels, gz=gz)
    match = message.format(images=re.escape(str(images_path)), labels=re.escape(str(labels_path)))
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path)


@pytest.mark.parametrize("name", [name for names in NAMES.values() for name in names])
def test_load_mnist_passes_on_read_idx_errors(tmp_path: Path, name: str) -> None:
    write_mnist(tmp_path)
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} is truncated"):
        load_mnist(tmp_path)
