"""Image message contents <-> numpy, for every supported encoding and for bad input."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import samples

from merge_ros.io import images
from merge_ros.io.images import ImageError
from merge_ros.ros import conversions

BGR = samples.frame(40, 30)


def _as(encoding: str) -> np.ndarray:
    return {
        "bgr8": BGR,
        "rgb8": BGR[:, :, ::-1].copy(),
        "bgra8": cv2.cvtColor(BGR, cv2.COLOR_BGR2BGRA),
        "rgba8": cv2.cvtColor(BGR, cv2.COLOR_BGR2RGBA),
        "8UC3": BGR,
    }[encoding]


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "bgra8", "rgba8", "8UC3"])
def test_colour_encodings_decode_to_the_same_bgr(encoding):
    msg = conversions.image_msg(_as(encoding), encoding)
    assert msg.step == 40 * (4 if "a" in encoding[-2:] else 3)
    np.testing.assert_array_equal(conversions.image_msg_to_bgr8(msg), BGR)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8(encoding):
    gray = cv2.cvtColor(BGR, cv2.COLOR_BGR2GRAY)
    out = conversions.image_msg_to_bgr8(conversions.image_msg(gray, encoding))
    assert out.shape == (30, 40, 3)
    np.testing.assert_array_equal(out[:, :, 0], gray)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_16_bit_values_are_exact_and_scaled_for_display(encoding):
    depth = np.arange(30 * 40, dtype=np.uint16).reshape(30, 40) * 3  # up to 3597, little of the 16-bit range
    msg = conversions.image_msg(depth, encoding)
    np.testing.assert_array_equal(images.raw_to_array(encoding, 40, 30, msg.step, bytes(msg.data)), depth)
    out = conversions.image_msg_to_bgr8(msg)
    assert out.dtype == np.uint8 and out[..., 0].max() == 255 and out[0, 0, 0] == 0


def test_big_endian_16_bit():
    depth = np.array([[1, 256], [513, 65535]], dtype=np.uint16)
    data = depth.astype(">u2").tobytes()
    np.testing.assert_array_equal(images.raw_to_array("16UC1", 2, 2, 4, data, is_bigendian=True), depth)


def test_row_padding_is_skipped():
    padded = np.zeros((30, 128), np.uint8)
    padded[:, :120] = BGR.reshape(30, 120)
    np.testing.assert_array_equal(images.raw_to_bgr8("bgr8", 40, 30, 128, padded.tobytes()), BGR)


def test_yuv422_and_bayer_decode_to_plausible_colour():
    uyvy = cv2.cvtColor(BGR, cv2.COLOR_BGR2YUV_YUYV) if hasattr(cv2, "COLOR_BGR2YUV_YUYV") else None
    if uyvy is not None:
        out = images.raw_to_bgr8("yuyv", 40, 30, 80, uyvy.tobytes())
        assert np.abs(out.astype(int) - BGR.astype(int)).mean() < 12
    bayer = np.zeros((30, 40), np.uint8)
    bayer[0::2, 0::2] = 200  # R sites of an RGGB mosaic
    out = images.raw_to_bgr8("bayer_rggb8", 40, 30, 40, bayer.tobytes())
    assert out[10:20, 10:30, 2].mean() > out[10:20, 10:30, 0].mean() + 50


def test_compressed_jpeg_and_png():
    png = conversions.compressed_msg(BGR, fmt="png")
    np.testing.assert_array_equal(conversions.image_msg_to_bgr8(png), BGR)
    jpg = conversions.compressed_msg(BGR, fmt="jpeg")
    assert np.abs(conversions.image_msg_to_bgr8(jpg).astype(int) - BGR.astype(int)).mean() < 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bgr8", 0, 0, 0, b""), "empty image"),
        (("bgr8", 40, 30, 120, b"\x00" * 100), "truncated"),
        (("bgr8", 40, 30, 100, b"\x00" * 4000), "step"),
        (("weird42", 4, 4, 16, b"\x00" * 64), "unsupported encoding"),
        (("mono8", 100_000, 100_000, 100_000, b""), "too large"),
    ],
)
def test_bad_raw_images_raise_clear_errors(args, message):
    with pytest.raises(ImageError, match=message):
        images.raw_to_bgr8(*args)


def test_bad_compressed_images_raise_clear_errors():
    with pytest.raises(ImageError, match="empty"):
        images.compressed_to_bgr8("jpeg", b"")
    jpg = images.bgr8_to_compressed(BGR)
    with pytest.raises(ImageError, match="cannot decode"):
        images.compressed_to_bgr8("jpeg", jpg[:20])
    with pytest.raises(ImageError, match="cannot decode"):
        images.compressed_to_bgr8("jpeg", b"not an image at all")
