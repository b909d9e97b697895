"""``graycodec train``: the command's module (the CLI delegates here); see :mod:`.engine`."""
import sys

from .engine import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
