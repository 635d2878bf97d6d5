"""Weight transforms named by rule files (`weights: {x: {transform: NAME}}`)."""

from __future__ import annotations

import numpy as np

from . import transform


@transform("bias_and_zeros")
def bias_and_zeros(b: np.ndarray):
    """Keras' single RNN bias -> torch (bias_ih, bias_hh = 0)."""
    return b, np.zeros_like(b)


@transform("depthwise_to_oihw")
def depthwise_to_oihw(k: np.ndarray):
    """(kh, kw, C, M) -> (C*M, 1, kh, kw); output channel c*M + m in both."""
    kh, kw, c, m = k.shape
    return k.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None, :, :]


def _zrh_to_rzn(a: np.ndarray) -> np.ndarray:
    z, r, h = np.split(a, 3, axis=0)
    return np.concatenate([r, z, h], axis=0)


@transform("gru_kernel")
def gru_kernel(k: np.ndarray):
    """(in, 3u) with gates z, r, h -> (3u, in) with gates r, z, n."""
    return _zrh_to_rzn(k.T)


@transform("gru_bias")
def gru_bias(b: np.ndarray):
    """reset_after GRU bias (2, 3u): input row and recurrent row, gates reordered."""
    return _zrh_to_rzn(b[0]), _zrh_to_rzn(b[1])


@transform("kernel_to_torch")
def kernel_to_torch(k: np.ndarray):
    """Keras (k..., a, b) -> torch (b, a, k...): conv HWIO -> OIHW, transposed HWOI -> IOHW."""
    r = k.ndim
    return k.transpose(r - 1, r - 2, *range(r - 2))
