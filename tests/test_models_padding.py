"""Tests of tfnq.models.padding."""

import numpy as np
import pytest
import tensorflow as tf

from tfnq.models import padding


@tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
def _pad16(image):
    return padding.pad_image(image, 16)


@pytest.mark.parametrize("height,width", [(1, 1), (16, 16), (17, 5), (32, 33)])
def test_pad_image_replicates_edges_to_a_multiple(height, width):
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    padded = _pad16(image).numpy()
    expected = np.pad(image.astype(np.float32), [(0, -height % 16), (0, -width % 16), (0, 0)],
                      mode="edge")
    assert padded.shape == (1,) + expected.shape
    np.testing.assert_array_equal(padded[0], expected)


def test_crop_to_image_undoes_padding_and_saturates():
    image = np.random.default_rng(1).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    padded = padding.pad_image(image, 8)
    np.testing.assert_array_equal(padding.crop_to_image(padded, 7, 9).numpy(), image)
    out = padding.crop_to_image(tf.constant([[[[-3.0, 255.6, 100.4]]]]), 1, 1).numpy()
    np.testing.assert_array_equal(out, [[[0, 255, 100]]])
