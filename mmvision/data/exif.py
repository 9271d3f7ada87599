"""EXIF orientation of encoded JPEG bytes, parsed and applied in-graph.

The orientation (tag 0x0112 of a JPEG's APP1 segment) is read with string
ops only, so it runs inside ``Dataset.map`` with no Python; ``apply_orientation``
then transposes the decoded image the way ``PIL.ImageOps.exif_transpose`` does.
"""

from __future__ import annotations

import tensorflow as tf

EXIF_MARKER = b"Exif\x00\x00"
#: How far into the file the ``Exif`` marker is looked for.
EXIF_SCAN_BYTES = 65536
#: A JPEG without the marker in this many first bytes takes the fast decode.
EXIF_FAST_BYTES = 4096
_EXIF_MAX_ENTRIES = 64
_EXIF_TIFF_BYTES = 1024


def exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """EXIF orientation (1..8) of encoded image bytes; 1 when absent or not JPEG.

    Pure string ops, so it runs in-graph. Reads IFD0 of the first ``Exif``
    APP1 segment within the first 64 KiB; malformed EXIF gives 1.
    """
    data = tf.convert_to_tensor(data, tf.string)
    head = tf.strings.substr(data, 0, EXIF_SCAN_BYTES)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 2), b"\xff\xd8")
    parts = tf.strings.split(head, sep=EXIF_MARKER, maxsplit=1)
    found = tf.logical_and(is_jpeg, tf.equal(tf.size(parts), 2))

    def parse():
        # IFD0 sits near the start of the TIFF block: 1 KiB is plenty.
        tiff = tf.strings.substr(parts[-1], 0, _EXIF_TIFF_BYTES)
        raw = tf.io.decode_raw(tiff, tf.uint8)
        raw = tf.cast(tf.pad(raw, [[0, 16]]), tf.int32)
        n = tf.shape(raw)[0]
        little = tf.equal(raw[0], 0x49)  # "II" little endian, "MM" big endian

        def at(idx):
            return tf.gather(raw, tf.clip_by_value(idx, 0, n - 1))

        def u16(off):
            b0, b1 = at(off), at(off + 1)
            return tf.where(little, b0 + 256 * b1, 256 * b0 + b1)

        def u32(off):
            b = [at(off + i) for i in range(4)]
            le = b[0] + 256 * (b[1] + 256 * (b[2] + 256 * b[3]))
            be = b[3] + 256 * (b[2] + 256 * (b[1] + 256 * b[0]))
            return tf.where(little, le, be)

        ifd = u32(tf.constant(4))
        count = u16(ifd)
        k = tf.range(_EXIF_MAX_ENTRIES)
        entry = ifd + 2 + 12 * k
        tags = u16(entry)
        values = u16(entry + 8)
        match = tf.logical_and(tf.equal(tags, 0x0112), k < count)
        match = tf.logical_and(match, entry + 10 <= n)
        value = tf.reduce_max(tf.where(match, values, 0))
        valid = tf.logical_and(value >= 1, value <= 8)
        return tf.where(valid, value, 1)

    return tf.cond(found, parse, lambda: tf.constant(1, tf.int32))


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Transposes ``image`` [H,W,C] so that EXIF ``orientation`` becomes 1.

    Same result as ``PIL.ImageOps.exif_transpose``.
    """
    image = tf.convert_to_tensor(image)
    o = tf.convert_to_tensor(orientation, tf.int32)
    t = lambda x: tf.transpose(x, [1, 0, 2])
    branches = [
        lambda: image,  # 1
        lambda: tf.reverse(image, [1]),  # 2 mirror
        lambda: tf.image.rot90(image, 2),  # 3 rotate 180
        lambda: tf.reverse(image, [0]),  # 4 flip vertical
        lambda: t(image),  # 5 transpose
        lambda: tf.image.rot90(image, 3),  # 6 rotate 90 CW
        lambda: tf.image.rot90(t(image), 2),  # 7 transverse
        lambda: tf.image.rot90(image, 1),  # 8 rotate 90 CCW
    ]
    idx = tf.clip_by_value(o, 1, 8) - 1
    return tf.switch_case(idx, branches)
