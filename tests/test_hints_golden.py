"""Files written before issue 13 (hint coding v1: int8 block means, left deltas, zstd) still decode.

tests/data/golden_hints_v1_*.gcz were made by graycodec at commit efecaba from golden_src.png
(``graycodec.encode(rgb, hints=level)``); the .npy beside each is the thumbnail it holds.
"""
from pathlib import Path

import numpy as np
import pytest

from graycodec import container, hints, imageio

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("level,factor", [("low", 32), ("medium", 16), ("high", 8)])
def test_v1_hint_files_still_decode_to_the_same_thumbnail(level, factor):
    img = container.read_gcz((DATA / f"golden_hints_v1_{level}.gcz").read_bytes())
    thumb = hints.unpack_hints(img.hints, img.width, img.height)
    assert thumb.factor == factor
    assert np.array_equal(thumb.ab, np.load(DATA / f"golden_hints_v1_{level}_ab.npy"))
    # ... and that thumbnail is the block means of the source, as the v1 encoder made them
    src = imageio.read_image(DATA / "golden_src.png", max_pixels=None)
    assert np.array_equal(thumb.ab, hints.make_hints(src.ab(), level).ab)
