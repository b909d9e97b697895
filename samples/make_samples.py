"""Regenerate the sample images from scikit-image's bundled data (``skimage.data``).

    python samples/make_samples.py

astronaut (Eileen Collins, NASA, public domain), coffee (Rachel Michetti, CC0) and chelsea
(Stefan van der Walt, CC0) are colour photos, saved as JPEG with the long side at most 512 px;
camera (Lav Varshney, CC0) is a real 8-bit grayscale photo, saved as PNG, which graycodec
stores bit-exactly. Licences as stated in scikit-image's ``skimage.data`` docstrings.
"""
from pathlib import Path

from PIL import Image
from skimage import data

HERE = Path(__file__).resolve().parent
LONG_SIDE = 512


def main() -> None:
    for name in ["astronaut", "coffee", "chelsea"]:
        im = Image.fromarray(getattr(data, name)())
        im.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
        im.save(HERE / f"{name}.jpg", quality=90)
    Image.fromarray(data.camera()).save(HERE / "camera.png", optimize=True)


if __name__ == "__main__":
    main()
