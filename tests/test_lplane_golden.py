"""Every lightness coding mode ever written still decodes to the same plane (golden payloads).

tests/data/golden_lplane_mode{m}_d{D}.bin are payloads of the 45 × 61 top-left corner of the
lightness of golden_src.png, made by ``lplane.encode_plane(plane, max_error=D, mode=m)`` on
branch issue13b (modes 1–4 unchanged since commit b1dc2b5, mode 5 as introduced there); the
.npy beside each is the plane they decoded to. A decoder change that alters any of them breaks
files already written.
"""
from pathlib import Path

import numpy as np
import pytest

from graycodec import imageio, lplane

DATA = Path(__file__).parent / "data"
CASES = [(1, 2), (2, 0), (3, 3), (4, 1), (5, 10)]


def source_plane():
    return imageio.read_image(DATA / "golden_src.png", max_pixels=None).plane[:45, :61]


@pytest.mark.parametrize("mode,max_error", CASES, ids=lambda v: str(v))
def test_golden_payload_decodes_to_the_same_plane(mode, max_error):
    payload = (DATA / f"golden_lplane_mode{mode}_d{max_error}.bin").read_bytes()
    out = lplane.decode_plane(mode, payload, 61, 45, max_error)
    assert np.array_equal(out, np.load(DATA / f"golden_lplane_mode{mode}_d{max_error}.npy"))
    if mode in lplane.BOUNDED_MODES:
        assert np.abs(out.astype(int) - source_plane()).max() <= max_error
