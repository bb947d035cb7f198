"""Conversion between image messages' fields and numpy arrays (the part of cv_bridge this package needs).

PyPI has no working cv_bridge for ROS 2 (the unofficial `cv-bridge` port is ROS 1's, and wrong for 16UC1), so
this module converts sensor_msgs/Image and CompressedImage contents itself, from plain fields, so that it is
usable without rclpy and testable.
Every failure raises ImageError with a message that says what was wrong with the input.
"""
from __future__ import annotations

import cv2
import numpy as np

# encoding -> (numpy dtype, channels, conversion code to BGR or None when already BGR / mono)
_ENCODINGS: dict[str, tuple[np.dtype, int, int | None]] = {
    "bgr8": (np.dtype(np.uint8), 3, None),
    "rgb8": (np.dtype(np.uint8), 3, cv2.COLOR_RGB2BGR),
    "bgra8": (np.dtype(np.uint8), 4, cv2.COLOR_BGRA2BGR),
    "rgba8": (np.dtype(np.uint8), 4, cv2.COLOR_RGBA2BGR),
    "mono8": (np.dtype(np.uint8), 1, cv2.COLOR_GRAY2BGR),
    "8UC1": (np.dtype(np.uint8), 1, cv2.COLOR_GRAY2BGR),
    "8UC3": (np.dtype(np.uint8), 3, None),
    "mono16": (np.dtype(np.uint16), 1, cv2.COLOR_GRAY2BGR),
    "16UC1": (np.dtype(np.uint16), 1, cv2.COLOR_GRAY2BGR),
    "bgr16": (np.dtype(np.uint16), 3, None),
    "rgb16": (np.dtype(np.uint16), 3, cv2.COLOR_RGB2BGR),
    "yuv422": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2BGR_UYVY),
    "yuyv": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2BGR_YUYV),
    "yuv422_yuy2": (np.dtype(np.uint8), 2, cv2.COLOR_YUV2BGR_YUYV),
}
# OpenCV names Bayer patterns by the second row's second and third pixels, so ROS's rggb is its BG (as in
# cv_bridge).
_BAYER = {
    "bayer_rggb8": cv2.COLOR_BayerBG2BGR,
    "bayer_bggr8": cv2.COLOR_BayerRG2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGR2BGR,
    "bayer_grbg8": cv2.COLOR_BayerGB2BGR,
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS) + tuple(_BAYER)

# Frames larger than this are refused rather than decoded (a corrupt header can claim any size).
MAX_PIXELS = 8192 * 8192


class ImageError(ValueError):
    """The image message cannot be turned into a frame; the text says why."""


def raw_to_array(encoding: str, width: int, height: int, step: int, data: bytes, is_bigendian: bool = False
                 ) -> np.ndarray:
    """Return the pixels of a sensor_msgs/Image as a numpy array in the message's own channel layout."""
    if width <= 0 or height <= 0:
        raise ImageError(f"empty image ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(f"image too large ({width}x{height} > {MAX_PIXELS} pixels)")
    if encoding in _BAYER:
        dtype, channels = np.dtype(np.uint8), 1
    elif encoding in _ENCODINGS:
        dtype, channels, _ = _ENCODINGS[encoding]
    else:
        raise ImageError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageError(f"step {step} is smaller than a row of {row_bytes} bytes for {encoding} {width}x{height}")
    if len(data) < step * height:
        raise ImageError(f"truncated data: {len(data)} bytes, expected {step * height} ({height} rows of {step})")
    buf = np.frombuffer(bytes(data[: step * height]), dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    array = np.ascontiguousarray(buf).view(dtype.newbyteorder(">" if is_bigendian else "<"))
    array = array.astype(dtype, copy=False)
    return array.reshape(height, width, channels) if channels > 1 else array.reshape(height, width)


def raw_to_bgr8(encoding: str, width: int, height: int, step: int, data: bytes, is_bigendian: bool = False
                ) -> np.ndarray:
    """Return a sensor_msgs/Image as an 8-bit BGR frame, the form every detector here takes."""
    array = raw_to_array(encoding, width, height, step, data, is_bigendian)
    if encoding in _BAYER:
        return cv2.cvtColor(array, _BAYER[encoding])
    dtype, _, code = _ENCODINGS[encoding]
    if dtype == np.uint16:
        # Scale the used range to 8 bits: depth-like 16-bit data rarely fills 0..65535.
        peak = int(array.max()) or 1
        array = (array.astype(np.float32) * (255.0 / peak)).astype(np.uint8)
    return cv2.cvtColor(array, code) if code is not None else np.ascontiguousarray(array)


def array_to_raw(array: np.ndarray, encoding: str) -> tuple[int, int, int, bytes]:
    """Return (width, height, step, data) of an array already in the channel layout of encoding."""
    if encoding not in _ENCODINGS:
        raise ImageError(f"cannot encode to {encoding!r}")
    dtype, channels, _ = _ENCODINGS[encoding]
    have = 1 if array.ndim == 2 else array.shape[2]
    if array.dtype != dtype or have != channels:
        raise ImageError(f"array {array.dtype} with {have} channel(s) does not fit {encoding}")
    array = np.ascontiguousarray(array.astype(dtype.newbyteorder("<"), copy=False))
    height, width = array.shape[:2]
    return width, height, width * channels * dtype.itemsize, array.tobytes()


def compressed_to_bgr8(fmt: str, data: bytes) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg or png) to an 8-bit BGR frame."""
    if not data:
        raise ImageError(f"empty compressed image (format {fmt!r})")
    frame = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_COLOR)
    if frame is None or frame.size == 0:
        raise ImageError(f"cannot decode compressed image (format {fmt!r}, {len(data)} bytes)")
    if frame.shape[0] * frame.shape[1] > MAX_PIXELS:
        raise ImageError(f"image too large ({frame.shape[1]}x{frame.shape[0]})")
    return frame


def bgr8_to_compressed(frame: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode a BGR frame as JPEG or PNG bytes for a CompressedImage."""
    if frame is None or frame.size == 0:
        raise ImageError("cannot encode an empty frame")
    ext = ".png" if fmt.lower().startswith("png") else ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, frame, params)
    if not ok:
        raise ImageError(f"cannot encode frame of shape {frame.shape} as {fmt}")
    return buf.tobytes()


def resize_longest(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image shrunk so that its longest side is at most max_side (never enlarged), and the scale used."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
