"""The project's error types and the CLI exit codes they map to.

Every failure that a user can cause (bad input, damaged file, missing model, refusing to
overwrite) raises a subclass of :class:`GraycodecError`; the CLI turns it into one line on
stderr and the exit code below. Anything else escaping is a bug.
"""

# Exit codes of the `graycodec` command (documented in README.md).
EXIT_OK = 0
EXIT_FAILED = 1  # a batch where at least one file failed, or an unexpected error
EXIT_USAGE = 2  # click's own code for bad command-line usage
EXIT_BAD_INPUT = 3  # input is not a readable image / not a valid .gcz
EXIT_OUTPUT = 4  # output exists (no --force) or cannot be written
EXIT_MODEL = 5  # no trained model, or model file invalid
EXIT_LIMIT = 6  # image exceeds --max-pixels


class GraycodecError(Exception):
    """Base of every error graycodec raises on purpose."""

    exit_code = EXIT_FAILED


class FormatError(GraycodecError, ValueError):
    """A .gcz file (or stream) is damaged, truncated, or not a .gcz at all.

    The message names the field or chunk that failed.
    """

    exit_code = EXIT_BAD_INPUT


class ImageInputError(GraycodecError, ValueError):
    """An input file is not an image graycodec can read."""

    exit_code = EXIT_BAD_INPUT


class ImageTooLargeError(GraycodecError, ValueError):
    """An image (or a .gcz header) declares more pixels than allowed."""

    exit_code = EXIT_LIMIT


class OutputError(GraycodecError, OSError):
    """An output path exists (without --force) or cannot be written."""

    exit_code = EXIT_OUTPUT


class DeviceError(GraycodecError, RuntimeError):
    """The device asked for (``--device cuda``) is not available: a usage error, not the model's."""

    exit_code = EXIT_USAGE


class ModelError(GraycodecError, RuntimeError):
    """No trained model is available, or a weight file is invalid."""

    exit_code = EXIT_MODEL
