"""Fitting images of any size to a codec's downsampling factor, and back."""

import tensorflow as tf

__all__ = [
    "crop_to_image",
    "pad_image",
]


def pad_image(image, multiple):
    """uint8 `[H, W, 3]` -> float32 `[1, H', W', 3]`, sides padded to a multiple.

    Padding replicates the last row and column (edge padding), which costs fewer
    bits than zeros and works for any side, including 1 pixel. A side that needs
    no padding is not copied.
    """
    x = tf.cast(image, tf.float32)[None]
    shape = tf.shape(x)
    pad_h = (multiple - shape[1] % multiple) % multiple
    pad_w = (multiple - shape[2] % multiple) % multiple
    x = tf.cond(pad_h > 0,
                lambda: tf.concat([x, tf.repeat(x[:, -1:], pad_h, axis=1)], axis=1),
                lambda: x)
    return tf.cond(pad_w > 0,
                   lambda: tf.concat([x, tf.repeat(x[:, :, -1:], pad_w, axis=2)], axis=2),
                   lambda: x)


def crop_to_image(x_hat, height, width):
    """float `[1, H', W', 3]` in 0-255 -> uint8 `[height, width, 3]` (rounded, clipped)."""
    return tf.saturate_cast(tf.round(x_hat[0, :height, :width, :]), tf.uint8)
