"""Training data: find photos, skip the gray ones, and cache them resized in one file.

The cache is what an epoch reads, so JPEGs are decoded once: every kept photo is resized
(area filter) so its short side is ``short_side`` pixels and stored as uint8 RGB, all
concatenated in one ``.npy`` blob beside a small JSON index. At ``short_side=256`` the
8,377 colour photos of ../shared/data/photos take 1,099 MiB; ``--short-side 128`` makes a
cache about a quarter of that for machines where the data must travel.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..color import rgb_to_lab

# MIRFLICKR-25k ships its tags and docs beside the photos; they are not training images.
IGNORED_DIRS = {"meta", "doc", "docs", "tags", "annotations"}
# Photos whose mean chroma (CIELAB sqrt(a²+b²)) is below this are treated as grayscale.
GRAY_CHROMA = 2.0


VAL_FRACTION = 0.05  # share of the photos held out for validation, chosen by name


def split_key(name: str) -> str:
    """What the validation split hashes: the photo's folder and file name (``caltech101/...``
    files share names across categories; absolute paths differ between machines)."""
    parts = Path(name).parts
    return "/".join(parts[-2:])


def is_validation(name: str, fraction: float = VAL_FRACTION) -> bool:
    """True for the photos of the fixed validation split: the first 8 bytes of the sha256 of
    ``split_key(name)``, read as a fraction of 2**64, fall below ``fraction``. It never
    changes with the order, the number or the location of the other photos."""
    digest = hashlib.sha256(split_key(name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def find_images(roots) -> list[Path]:
    """All image files under the given folders (or files), by the rule of every command
    (batch.find_images), sorted, skipping MirFlickr's meta dirs."""
    from ..batch import find_images as find_all

    found = find_all(roots)
    return sorted(Path(p) for p, rel in found
                  if Path(p).is_file() and (rel is None or not IGNORED_DIRS & set(rel.parts[:-1])))


def is_grayscale(rgb: np.ndarray) -> bool:
    """True for photos with (near) zero chroma: they would teach the model to predict gray."""
    small = rgb[:: max(1, rgb.shape[0] // 64), :: max(1, rgb.shape[1] // 64)]
    ab = rgb_to_lab(small)[..., 1:]
    return float(np.hypot(ab[..., 0], ab[..., 1]).mean()) < GRAY_CHROMA


def load_resized(path: Path, short_side: int, min_downscale: float = 1.0) -> np.ndarray:
    """Decode one photo as RGB and resize it (never enlarging) to the given short side.

    ``min_downscale`` F > 1 shrinks every photo at least F times as well (short side at most
    1/F of the file's). A JPEG keeps its colour at half resolution (4:2:0) and quantises it
    coarsely; shrunk 2x, its colour is back on the pixel grid, so a network trained on it
    learns a scene's colour edges rather than the JPEG's (docs/TRAINING.md, "Known defect").
    """
    with Image.open(path) as im:
        target = min(short_side, min(im.size) / min_downscale)
        draft = max(1, round(target * 2))
        im.draft("RGB", (draft, draft))  # JPEG: decode at a reduced scale
        im = im.convert("RGB")
        scale = target / min(im.size)
        if scale < 1:
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            im = im.resize(size, Image.Resampling.BOX if scale < 0.5 else Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(im, dtype=np.uint8)


@dataclass
class PrepareStats:
    kept: int = 0
    grayscale: int = 0
    unreadable: int = 0


@dataclass
class ImageCache:
    """Photos as one uint8 blob with (offset, height, width) per image."""

    blob: np.ndarray
    index: np.ndarray  # int64 (n, 3)
    names: list[str]
    meta: dict = field(default_factory=dict)  # how it was made: roots, short_side, counts

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> np.ndarray:
        off, h, w = self.index[i]
        return self.blob[off : off + h * w * 3].reshape(h, w, 3)

    def head(self, n: int) -> "ImageCache":
        """The first ``n`` photos (a view sharing the blob), e.g. to hold the rest out."""
        return self.subset(range(n))

    def subset(self, indices) -> "ImageCache":
        """The photos at ``indices`` (a view sharing the blob)."""
        indices = np.asarray(list(indices), dtype=np.int64)
        return ImageCache(self.blob, self.index[indices].reshape(-1, 3), [self.names[i] for i in indices], self.meta)

    def split(self, fraction: float = VAL_FRACTION) -> tuple["ImageCache", "ImageCache"]:
        """(training, validation) by the fixed hash of each photo's name (``is_validation``)."""
        val = [i for i, n in enumerate(self.names) if is_validation(n, fraction)]
        held = set(val)
        return self.subset(i for i in range(len(self)) if i not in held), self.subset(val)

    def save(self, path: Path) -> None:
        """Write ``CACHE.npy`` (the blob) and ``CACHE.json`` (index, names, meta), each atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npy")
        np.save(tmp, self.blob)
        tmp.replace(path.with_suffix(".npy"))
        meta = {"index": self.index.tolist(), "names": self.names, **self.meta}
        tmp = tmp.with_suffix(".json")
        tmp.write_text(json.dumps(meta))
        tmp.replace(path.with_suffix(".json"))

    @classmethod
    def load(cls, path: Path, mmap: bool = True) -> "ImageCache":
        """Read a cache; the blob is memory-mapped copy-on-write (processes share the page cache,
        and torch accepts the array without warning about read-only memory)."""
        path = Path(path)
        blob = np.load(path.with_suffix(".npy"), mmap_mode="c" if mmap else None)
        meta = json.loads(path.with_suffix(".json").read_text())
        index = np.asarray(meta.pop("index"), dtype=np.int64).reshape(-1, 3)
        return cls(blob, index, meta.pop("names"), meta)


def build_cache(paths, short_side: int = 256, progress=None,
                min_downscale: float = 1.0) -> tuple[ImageCache, PrepareStats]:
    """Decode, filter and resize ``paths`` into an :class:`ImageCache` (see ``load_resized``)."""
    stats, arrays, names = PrepareStats(), [], []
    for p in paths:
        try:
            rgb = load_resized(p, short_side, min_downscale)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
            stats.unreadable += 1
            continue
        finally:
            if progress is not None:
                progress.update(1)
        if is_grayscale(rgb):
            stats.grayscale += 1
            continue
        arrays.append(rgb)
        names.append(str(p))
    stats.kept = len(arrays)
    sizes = [a.size for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if arrays else np.zeros(0, np.int64)
    index = np.array([[o, a.shape[0], a.shape[1]] for o, a in zip(offsets, arrays)], dtype=np.int64).reshape(-1, 3)
    blob = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, np.uint8)
    meta = {"short_side": short_side, "stats": asdict(stats)}
    if min_downscale != 1.0:
        meta["min_downscale"] = min_downscale
    return ImageCache(blob, index, names, meta), stats


def source_key(roots) -> list[str]:
    """What a cache was built from, recorded in its JSON to notice a stale workdir cache."""
    return sorted(str(Path(r).resolve()) for r in roots)


def prepare(roots, short_side: int = 256, *, min_downscale: float = 1.0, progress: bool = True,
            echo=print) -> ImageCache:
    """Find, filter and cache the photos under ``roots``, printing what was found and kept."""
    from tqdm import tqdm

    paths = find_images(roots)
    echo(f"found {len(paths)} image files under {', '.join(map(str, roots))}")
    with tqdm(total=len(paths), desc="prepare", unit="img", disable=not progress) as bar:
        cache, stats = build_cache(paths, short_side, progress=bar, min_downscale=min_downscale)
    cache.meta["roots"] = source_key(roots)
    shrink = f", each shrunk at least {min_downscale:g}x" if min_downscale != 1.0 else ""
    echo(f"kept {stats.kept} colour photos; skipped {stats.grayscale} grayscale and "
         f"{stats.unreadable} unreadable files; cache {cache.blob.nbytes / 2**20:.0f} MiB "
         f"at short side {short_side}{shrink}")
    return cache
