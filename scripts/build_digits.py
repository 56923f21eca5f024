"""Build the bundled digits data set, ``src/tinytorch/datasets/data/digits.npz``.

Maintainer tool: it needs scikit-learn (``pip install scikit-learn``), which is NOT a
dependency of TinyTorch; students only ever load the finished file with
``tinytorch.datasets.load_digits()``.

The source is scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits"
test set: 1,797 images of 8x8 pixels with 17 grey levels (0..16), licensed CC BY 4.0 (see
``data/LICENSE-digits.md``). The script splits it into 1,437 training and 360 test images,
stratified by digit with a fixed seed, and stores uint8 arrays ``train_images``
(1437, 8, 8), ``train_labels`` (1437,), ``test_images`` (360, 8, 8), ``test_labels`` (360,).

The archive is written byte for byte reproducibly (fixed member order and timestamps), so
rebuilding gives the same SHA-256 digest, which ``digits.py`` checks on every load:

    python scripts/build_digits.py           # write the file, print its digest
    python scripts/build_digits.py --check   # rebuild in memory, compare with the bundled file
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
OUTPUT = REPOSITORY / "src" / "tinytorch" / "datasets" / "data" / "digits.npz"
TEST_SIZE = 360
SPLIT_SEED = 0
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip file can store


def build_arrays() -> dict[str, np.ndarray]:
    """The stratified train/test split of scikit-learn's digits, as uint8 arrays."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # grey levels 0..16, exact in uint8
    if not np.array_equal(images, digits.images):
        raise SystemExit("scikit-learn's digits are no longer whole numbers 0..16; check the source")
    labels = digits.target.astype(np.uint8)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    return {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz archive that ``np.load`` reads, with reproducible bytes.

    ``np.savez_compressed`` stamps each member with the current time; writing the members
    ourselves with a fixed timestamp makes the file depend on the data alone.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def write_atomically(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the packaged file must be readable
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the .npz")
    parser.add_argument("--check", action="store_true",
                        help="rebuild in memory and compare with the existing file instead of writing")
    args = parser.parse_args(argv)

    arrays = build_arrays()
    content = npz_bytes(arrays)
    digest = hashlib.sha256(content).hexdigest()
    for split in ("train", "test"):
        counts = np.bincount(arrays[f"{split}_labels"], minlength=10)
        print(f"{split}: {len(arrays[f'{split}_labels'])} images, per digit {counts.tolist()}")

    if args.check:
        existing = hashlib.sha256(args.output.read_bytes()).hexdigest()
        print(f"rebuilt  {digest}\nexisting {existing}  {args.output}")
        return 0 if existing == digest else 1

    write_atomically(args.output, content)
    print(f"wrote {args.output} ({len(content)} bytes)")
    print(f"sha256 {digest}  <- DIGITS_SHA256 in src/tinytorch/datasets/digits.py must equal this")
    return 0


if __name__ == "__main__":
    sys.exit(main())
