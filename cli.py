"""``python cli.py``: run the ``graycodec`` command from a source checkout (see graycodec/cli.py)."""
from graycodec.cli import main

if __name__ == "__main__":
    main()
