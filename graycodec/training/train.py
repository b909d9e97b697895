"""``graycodec train``: the command's module (the CLI delegates here); see :mod:`.engine`."""
import sys

from ..errors import GraycodecError
from .engine import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":  # python -m graycodec.training.train, e.g. under torchrun
    try:
        sys.exit(main())
    except GraycodecError as exc:  # one line and its exit code, as from `graycodec train`
        from ..cli import report_error

        sys.exit(report_error(None, exc))
