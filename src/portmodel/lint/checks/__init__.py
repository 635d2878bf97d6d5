"""One module per lint check; importing this package registers them all."""

from . import (  # noqa: F401
    pm001_untranslatable,
    pm100_framework_import,
    pm101_framework_use,
    pm200_translatable_layer,
    pm300_batchnorm_defaults,
    pm301_layernorm_epsilon,
    pm302_same_padding_stride,
    pm303_gru_reset_after,
    pm304_flatten_before_dense,
    pm305_softmax_axis,
    pm306_leaky_relu_slope,
)
