"""graycodec: a lossy image codec that stores lightness and restores colour with a U-Net."""
__version__ = "0.1.0"
