"""``--quality Q`` (0–100, larger is better): a lightness error bound and a colour budget.

Each row of ``TABLE`` is a point of graycodec's rate–ΔE94 frontier measured on training
photos (benchmarks/quality_frontier.py, never Kodak); a quality Q uses the row with the
largest ``quality`` ≤ Q. ``bpp`` and ``de94`` are the means measured there, kept so a test can
check the table is monotone: more Q never costs fewer bits nor gives more error. The ΔE94
were measured with an untrained predictor (the L-guided upsampling of the thumbnail); a
trained model only lowers them.

Rows of ``mode`` 3 (near-lossless, full size) keep the decoded lightness within ``max_error``
plane units (of 255; L* error ≤ max_error / 2.55): the bound is stored in the file and checked
by tests. Rows of mode 5 (the wavelet transform coder, lplane.wavelet: ``max_error`` D sets its
quantiser step 3D/4) and of mode 4 (the plane at half resolution, D bounding that half-size
plane) give no per-pixel bound on the decoded plane (``lightness_bound`` is None for them).
"""
from __future__ import annotations

from typing import NamedTuple

from .lplane import BOUNDED_MODES, MODE_HALF, MODE_STRIPS, MODE_WAVELET

BOUNDED, HALF, WAVELET = MODE_STRIPS, MODE_HALF, MODE_WAVELET
# the prefix of a lightness setting in benchmarks/results/quality_frontier.json, per mode
SETTING_PREFIX = {BOUNDED: "", HALF: "h", WAVELET: "w"}


class Row(NamedTuple):
    quality: int  # lowest Q that uses this row
    mode: int  # lplane coding mode: 3 near-lossless (bounded), 4 half size, 5 wavelet
    max_error: int  # mode 3: the bound D (plane units); mode 4: D of the half-size plane; mode 5: step 3D/4
    hints: str  # hint level F:S (1/F of each side, a/b step S)
    bpp: float  # measured on the training frontier (mean over images)
    de94: float  # measured likewise, untrained predictor

    @property
    def setting(self) -> str:
        """The row's lightness setting as quality_frontier.py names it ("6", "h3", "w24")."""
        return f"{SETTING_PREFIX[self.mode]}{self.max_error}"


# python benchmarks/fit_quality_table.py (benchmarks/results/quality_frontier.json: 24 training photos)
TABLE: tuple[Row, ...] = (
    Row(0, WAVELET, 64, "16:2", 0.524, 3.906),
    Row(10, WAVELET, 64, "11:1", 0.556, 3.666),
    Row(20, WAVELET, 64, "6:2", 0.619, 3.491),
    Row(30, WAVELET, 48, "8:2", 0.720, 3.273),
    Row(40, WAVELET, 40, "8:2", 0.837, 3.072),
    Row(50, WAVELET, 32, "8:1", 1.006, 2.832),
    Row(60, WAVELET, 32, "4:2", 1.161, 2.635),
    Row(70, WAVELET, 24, "4:2", 1.382, 2.399),
    Row(80, WAVELET, 20, "4:1", 1.622, 2.204),
    Row(90, WAVELET, 12, "4:1", 2.133, 1.944),
    Row(95, BOUNDED, 2, "4:1", 2.817, 1.729),
    Row(100, BOUNDED, 0, "4:1", 4.812, 1.551),
)


def setting(quality: int) -> Row:
    """The table row a quality 0..100 maps to; ValueError outside 0..100."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
        raise ValueError(f"quality must be an integer in 0..100, got {quality!r}")
    return [row for row in TABLE if row.quality <= quality][-1]


def lightness_bound(quality: int) -> int | None:
    """Largest |decoded − original| of the lightness plane a quality guarantees (None: no bound)."""
    row = setting(quality)
    return row.max_error if row.mode in BOUNDED_MODES else None
