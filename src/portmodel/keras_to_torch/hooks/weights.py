"""Weight transforms named by rule files (`weights: {x: {transform: NAME}}`)."""

from __future__ import annotations

import numpy as np

from .registry import axis_order, inverse, transform


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


_rzn_to_zrh = _zrh_to_rzn  # swapping the first two gate blocks is its own inverse


@transform("gru_kernel")
def gru_kernel(k: np.ndarray):
    """(in, 3u) with gates z, r, h -> (3u, in) with gates r, z, n."""
    return _zrh_to_rzn(k.T)


@transform("gru_bias")
def gru_bias(b: np.ndarray):
    """reset_after GRU bias (2, 3u): input row and recurrent row, gates reordered."""
    return _zrh_to_rzn(b[0]), _zrh_to_rzn(b[1])


@axis_order("kernel_to_torch")
def kernel_axes(r: int) -> tuple[int, ...]:
    return (r - 1, r - 2, *range(r - 2))


@transform("kernel_to_torch")
def kernel_to_torch(k: np.ndarray):
    """Keras (k..., a, b) -> torch (b, a, k...): conv HWIO -> OIHW, transposed HWOI -> IOHW."""
    return k.transpose(kernel_axes(k.ndim))


@inverse("bias_and_zeros")
def sum_biases(b_ih: np.ndarray, b_hh: np.ndarray, shape):
    """torch's two RNN biases enter the same pre-activation: Keras' one bias is their sum."""
    return b_ih + b_hh


@inverse("depthwise_to_oihw")
def oihw_to_depthwise(w: np.ndarray, shape):
    kh, kw, c, m = shape
    return w[:, 0].transpose(1, 2, 0).reshape(kh, kw, c, m)


@inverse("gru_kernel")
def gru_kernel_to_keras(w: np.ndarray, shape):
    return _rzn_to_zrh(w).T


@inverse("gru_bias")
def gru_bias_to_keras(b_ih: np.ndarray, b_hh: np.ndarray, shape):
    return np.stack([_rzn_to_zrh(b_ih), _rzn_to_zrh(b_hh)])


@inverse("kernel_to_torch")
def kernel_to_keras(w: np.ndarray, shape):
    r = w.ndim
    return w.transpose(*range(2, r), 1, 0)


@transform("mha_in_kernel")
def mha_in_kernel(k: np.ndarray):
    """Keras per-head projection (d, heads, head_dim) -> torch rows (heads * head_dim, d)."""
    return k.reshape(k.shape[0], -1).T


@inverse("mha_in_kernel")
def mha_in_kernel_to_keras(w: np.ndarray, shape):
    return w.T.reshape(shape)


@transform("mha_out_kernel")
def mha_out_kernel(k: np.ndarray):
    """Keras output projection (heads, head_dim, d) -> torch (d, heads * head_dim)."""
    return k.reshape(-1, k.shape[-1]).T


@inverse("mha_out_kernel")
def mha_out_kernel_to_keras(w: np.ndarray, shape):
    return w.T.reshape(shape)


@transform("flatten")
def flatten(b: np.ndarray):
    """Keras per-head bias (heads, head_dim) -> torch (heads * head_dim,)."""
    return b.reshape(-1)


@inverse("flatten")
def unflatten(b: np.ndarray, shape):
    return b.reshape(shape)
