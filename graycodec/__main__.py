"""``python -m graycodec``: the same command as the installed ``graycodec``."""
from .cli import main

if __name__ == "__main__":
    main()
