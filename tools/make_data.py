r"""Regenerate tinysae's bundled data files in ``tinysae/data/``.

Run from the repository root::

    python tools/make_data.py            # write tinysae/data/natural_images.npz and digits.npz
    python tools/make_data.py --check    # rebuild in memory; fail unless the stored files match

This script is the only place that uses scikit-image and scikit-learn; tinysae itself reads the
``.npz`` files with numpy alone. Both libraries ship their source data inside their wheels, so
nothing is downloaded: the script refuses to run if a source file is missing.

Natural images (Olshausen & Field, 1997; UFLDL's ``IMAGES.mat``)
-----------------------------------------------------------------
For each of ten public-domain / CC0 photographs bundled with scikit-image:

1. read the bundled file and convert it to grayscale in [0, 1] (ITU-R 709 luma weights
   0.2125 R + 0.7154 G + 0.0721 B, as ``skimage.color.rgb2gray``);
2. shrink large photographs by averaging ``q x q`` pixel blocks, ``q = max(1, min(H, W) // 256)``,
   so that the 256 x 256 crop holds most of the scene rather than a close-up of one part;
3. pad 32 pixels on each side by mirror reflection (so the FFT's periodic wrap-around meets no
   jump at the borders, which would whiten into bright lines);
4. standardise (subtract the mean, divide by the standard deviation), then whiten in the Fourier
   domain: multiply the padded image's 2-D spectrum by

   .. math:: R(f) = f \, e^{-(f / f_0)^4}, \qquad f = \sqrt{f_x^2 + f_y^2} \ \text{(cycles/pixel)},

   with :math:`f_0 = 0.4` cycles/pixel (Olshausen & Field's 200 cycles per 512-pixel picture,
   their code's ``f_0 = 0.4 * N``). The ramp :math:`f` flattens the :math:`1/f` amplitude
   spectrum of natural scenes; the exponential rolls off the noisy, aliased corners. ``R(0) = 0``,
   so the whitened image has zero mean;
5. drop the padding and keep the central 256 x 256 crop;
6. scale the crop to variance 0.1 (UFLDL's ``IMAGES.mat`` convention) and store as float32.

Digits
------
scikit-learn's ``load_digits`` (1797 8 x 8 images, integer intensities 0..16, labels 0..9), stored
as uint8.

Determinism
-----------
Every step is deterministic, and the ``.npz`` files are written with fixed zip timestamps, so the
same inputs give byte-identical files (the SHA-256 of each is printed and recorded in
``tinysae/data/SOURCES.md``). JPEG decoding could differ between image-library versions; the
versions used are printed too.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "tinysae" / "data"

#: (name, file bundled in skimage/data, author / origin, licence)
PHOTOGRAPHS: tuple[tuple[str, str, str, str], ...] = (
    ("camera", "camera.png", "Lav Varshney", "CC0"),
    ("coffee", "coffee.png", "Rachel Michetti (Pikolo Espresso Bar)", "CC0"),
    ("chelsea", "chelsea.png", "Stefan van der Walt", "CC0"),
    ("grass", "grass.png", "linolafett (DeviantArt, 'Grass 01')", "CC0"),
    ("gravel", "gravel.png", "CC0Textures ('Gravel04')", "CC0"),
    ("brick", "brick.png", "CC0Textures ('Bricks25')", "CC0"),
    ("astronaut", "astronaut.png", "NASA (Eileen Collins portrait)", "public domain"),
    ("rocket", "rocket.jpg", "SpaceX (DSCOVR launch on Falcon 9)", "public domain"),
    ("hubble_deep_field", "hubble_deep_field.jpg", "NASA / Hubble (eXtreme Deep Field)", "public domain"),
    ("retina", "retina.jpg", "Mikael Haggstrom (Wikimedia Commons)", "CC0"),
)

CROP = 256  # side of the stored square crops
PAD = 32  # mirror padding before the FFT, removed after whitening
F0 = 0.4  # whitening roll-off frequency f_0 in cycles/pixel (Nyquist is 0.5)
VARIANCE = 0.1  # variance of each stored image
LUMA = np.array([0.2125, 0.7154, 0.0721])  # skimage.color.rgb2gray weights
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamp: reproducible .npz bytes


def skimage_data_dir() -> Path:
    """The folder of photographs inside the installed scikit-image wheel."""
    import skimage.data

    return Path(skimage.data.__file__).resolve().parent


def read_grayscale(path: Path) -> np.ndarray:
    """The photograph at ``path`` as a float64 grayscale image ``(H, W)`` in [0, 1]."""
    import skimage.io

    image = skimage.io.imread(path)
    if image.dtype != np.uint8:
        raise ValueError(f"{path.name}: expected 8-bit pixels, got {image.dtype}")
    image = image.astype(np.float64) / 255.0
    if image.ndim == 3:
        image = image[..., :3] @ LUMA  # drop an alpha channel if any
    return image


def block_average(image: np.ndarray, q: int) -> np.ndarray:
    """Average non-overlapping ``q x q`` blocks (ragged edge rows/columns dropped)."""
    if q == 1:
        return image
    H, W = (image.shape[0] // q) * q, (image.shape[1] // q) * q
    return image[:H, :W].reshape(H // q, q, W // q, q).mean(axis=(1, 3))


def whitening_filter(shape: tuple[int, int], f0: float = F0) -> np.ndarray:
    r""":math:`R(f) = f e^{-(f/f_0)^4}` on the (unshifted) FFT grid of an image of ``shape``."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2)
    return f * np.exp(-((f / f0) ** 4))


def whiten(image: np.ndarray, f0: float = F0) -> np.ndarray:
    """Standardise ``image``, then multiply its spectrum by :func:`whitening_filter`."""
    image = (image - image.mean()) / image.std()
    spectrum = np.fft.fft2(image) * whitening_filter(image.shape, f0)
    return np.real(np.fft.ifft2(spectrum))


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window of ``image``."""
    H, W = image.shape
    if H < size or W < size:
        raise ValueError(f"image of shape {image.shape} is smaller than the {size}x{size} crop")
    top, left = (H - size) // 2, (W - size) // 2
    return image[top : top + size, left : left + size]


def natural_image(path: Path) -> np.ndarray:
    """Steps 1-6 of the module docstring for one photograph: float32 ``(CROP, CROP)``."""
    gray = read_grayscale(path)
    q = max(1, min(gray.shape) // CROP)
    padded = np.pad(block_average(gray, q), PAD, mode="reflect")
    white = whiten(padded)[PAD:-PAD, PAD:-PAD]
    crop = centre_crop(white, CROP)
    crop = crop - crop.mean()
    crop = crop * np.sqrt(VARIANCE / crop.var())
    return crop.astype(np.float32)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_natural_images() -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays of ``natural_images.npz`` and one provenance line per photograph."""
    folder = skimage_data_dir()
    images, names, lines = [], [], []
    for name, filename, author, licence in PHOTOGRAPHS:
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not bundled with this scikit-image; nothing is downloaded")
        images.append(natural_image(path))
        names.append(name)
        digest = sha256(path.read_bytes())
        lines.append(f"{name}: skimage/data/{filename} ({author}; {licence}) sha256 {digest}")
    arrays = {"images": np.stack(images), "names": np.array(names)}
    return arrays, lines


def build_digits() -> dict[str, np.ndarray]:
    """The arrays of ``digits.npz``: pixel intensities 0..16 and labels 0..9 as uint8."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = bunch.data
    if not (np.all(data == np.round(data)) and data.min() >= 0 and data.max() <= 16):
        raise ValueError("sklearn's digits are expected to be integers in 0..16")
    return {"data": data.astype(np.uint8), "target": bunch.target.astype(np.uint8)}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` (readable by ``np.load``) with fixed timestamps: same arrays, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def versions() -> str:
    import imageio
    import PIL
    import skimage
    import sklearn

    return (
        f"numpy {np.__version__}, scikit-image {skimage.__version__}, scikit-learn {sklearn.__version__}, "
        f"imageio {imageio.__version__}, Pillow {PIL.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the stored files, write nothing")
    args = parser.parse_args(argv)

    natural, lines = build_natural_images()
    outputs = {"natural_images.npz": npz_bytes(natural), "digits.npz": npz_bytes(build_digits())}

    print(versions())
    for line in lines:
        print(line)
    mismatched = []
    for filename, data in outputs.items():
        target = DATA_DIR / filename
        print(f"{filename}: {len(data)} bytes, sha256 {sha256(data)}")
        if args.check:
            if not target.is_file() or target.read_bytes() != data:
                mismatched.append(filename)
        else:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    if mismatched:
        print(f"differs from the stored file: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
