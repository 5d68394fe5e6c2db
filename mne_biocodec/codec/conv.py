"""Causal, weight-normalised 1-D (transposed) convolutions with EnCodec's padding rules.

The padding arithmetic decides how many frames a signal gives and how long the decoded signal
is, so it follows the reference implementation exactly: a causal convolution pads
``effective_kernel - stride`` samples on the left (reflect by default) plus whatever right
padding completes the last window; a causal transposed convolution trims its whole overhang on
the right.
"""

import math

from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

__all__ = ["StreamableConv1d", "StreamableConvTranspose1d", "pad1d", "extra_padding_for_conv1d"]


def extra_padding_for_conv1d(length, kernel_size, stride, padding_total):
    """Right padding that makes the last convolution window complete.

    Parameters
    ----------
    length : int
        Number of input samples.
    kernel_size : int
        Effective kernel size (dilation included).
    stride : int
        Convolution stride.
    padding_total : int
        Padding already added (``kernel_size - stride``).

    Returns
    -------
    extra : int
        Number of samples to add on the right.
    """
    n_frames = (length - kernel_size + padding_total) / stride + 1
    ideal_length = (math.ceil(n_frames) - 1) * stride + (kernel_size - padding_total)
    return ideal_length - length


def pad1d(x, paddings, mode="reflect"):
    """Pad the last axis, allowing reflect padding wider than the input.

    ``F.pad`` refuses reflect padding of at least the input length; as in the reference code,
    the input is first zero-extended on the right so that short inputs still pad.

    Parameters
    ----------
    x : Tensor, shape [..., T]
        Input.
    paddings : tuple of int
        ``(left, right)`` padding.
    mode : str, default="reflect"
        A mode of :func:`torch.nn.functional.pad` (``"zeros"`` is accepted for ``"constant"``).

    Returns
    -------
    padded : Tensor, shape [..., T + left + right]
    """
    left, right = paddings
    if mode in ("zero", "zeros"):
        mode = "constant"
    if mode != "reflect":
        return F.pad(x, paddings, mode)
    length = x.shape[-1]
    max_pad = max(left, right)
    extra = 0
    if length <= max_pad:
        extra = max_pad - length + 1
        x = F.pad(x, (0, extra))
    padded = F.pad(x, paddings, mode)
    return padded[..., : padded.shape[-1] - extra]


def _parametrize(conv, norm):
    if norm == "weight_norm":
        return weight_norm(conv)
    if norm in ("none", None):
        return conv
    raise ValueError(f"norm must be 'weight_norm' or 'none'; got {norm!r}.")


class _NormConv(nn.Module):
    """Holds the convolution as ``.conv``, the reference implementation's key layout."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(x)


class _NormConvTranspose(nn.Module):
    """Holds the transposed convolution as ``.convtr``, the reference key layout."""

    def __init__(self, convtr):
        super().__init__()
        self.convtr = convtr

    def forward(self, x):
        return self.convtr(x)


class StreamableConv1d(nn.Module):
    """Conv1d with causal reflect padding and optional weight norm.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_size : int
        Kernel size.
    stride : int, default=1
        Stride.
    dilation : int, default=1
        Dilation.
    causal : bool, default=True
        Pad only on the left (plus the right padding that completes the last window).
    norm : {"weight_norm", "none"}, default="weight_norm"
        Weight parametrisation.
    pad_mode : str, default="reflect"
        Padding mode.

    Notes
    -----
    Input and output are ``[B, C, T]``; the output has
    ``ceil((T - stride) / stride) + 1`` frames for ``T >= stride`` in the causal case.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1,
                 causal=True, norm="weight_norm", pad_mode="reflect"):
        super().__init__()
        self.conv = _NormConv(_parametrize(
            nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation),
            norm,
        ))
        self.causal = causal
        self.pad_mode = pad_mode

    @property
    def effective_kernel_size(self):
        conv = self.conv.conv
        return (conv.kernel_size[0] - 1) * conv.dilation[0] + 1

    @property
    def stride(self):
        return self.conv.conv.stride[0]

    def forward(self, x):
        kernel_size = self.effective_kernel_size
        stride = self.stride
        padding_total = kernel_size - stride
        extra = extra_padding_for_conv1d(x.shape[-1], kernel_size, stride, padding_total)
        if self.causal:
            x = pad1d(x, (padding_total, extra), mode=self.pad_mode)
        else:
            right = padding_total // 2
            x = pad1d(x, (padding_total - right, right + extra), mode=self.pad_mode)
        return self.conv(x)


class StreamableConvTranspose1d(nn.Module):
    """ConvTranspose1d whose overhang is trimmed (on the right when causal).

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_size : int
        Kernel size.
    stride : int, default=1
        Stride (the upsampling factor).
    causal : bool, default=True
        Trim ``trim_right_ratio`` of the overhang on the right, the rest on the left.
    norm : {"weight_norm", "none"}, default="weight_norm"
        Weight parametrisation.
    trim_right_ratio : float, default=1.0
        Fraction of the overhang trimmed on the right in the causal case.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, causal=True,
                 norm="weight_norm", trim_right_ratio=1.0):
        super().__init__()
        self.convtr = _NormConvTranspose(_parametrize(
            nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride), norm
        ))
        self.causal = causal
        self.trim_right_ratio = trim_right_ratio

    def forward(self, x):
        conv = self.convtr.convtr
        padding_total = conv.kernel_size[0] - conv.stride[0]
        y = self.convtr(x)
        if self.causal:
            right = math.ceil(padding_total * self.trim_right_ratio)
        else:
            right = padding_total // 2
        left = padding_total - right
        return y[..., left: y.shape[-1] - right]
