"""SEANet encoder and decoder (EnCodec's convolutional auto-encoder) as BioCodec uses them.

Module indices inside ``model`` follow the reference implementation so that its state dicts
load without renaming (e.g. ``encoder.model.13.lstm.weight_ih_l0``).
"""

from torch import nn

from .conv import StreamableConv1d, StreamableConvTranspose1d

__all__ = ["SEANetEncoder", "SEANetDecoder", "SEANetResnetBlock", "StreamableLSTM"]


class StreamableLSTM(nn.Module):
    """Multi-layer LSTM over time with an identity skip.

    Parameters
    ----------
    dimension : int
        Input and hidden size.
    num_layers : int, default=2
        Number of stacked layers.
    skip : bool, default=True
        Add the input to the output.

    Notes
    -----
    Input and output are ``[B, C, T]``.
    """

    def __init__(self, dimension, num_layers=2, skip=True):
        super().__init__()
        self.skip = skip
        self.lstm = nn.LSTM(dimension, dimension, num_layers)

    def forward(self, x, state=None):
        x = x.permute(2, 0, 1)
        y, _ = self.lstm(x, state)
        if self.skip:
            y = y + x
        return y.permute(1, 2, 0)


class SEANetResnetBlock(nn.Module):
    """Residual block: ELU, dilated conv, ELU, 1x1 conv, plus an identity (or 1x1) skip.

    Parameters
    ----------
    dim : int
        Channels.
    kernel_sizes : tuple of int, default=(3, 1)
        Kernel of each of the two convolutions.
    dilations : tuple of int, default=(1, 1)
        Dilation of each convolution.
    causal : bool, default=True
        Causal padding.
    norm : str, default="weight_norm"
        Weight parametrisation.
    pad_mode : str, default="reflect"
        Padding mode.
    compress : int, default=1
        Hidden channels are ``dim // compress``.
    true_skip : bool, default=True
        Identity skip (else a 1x1 convolution).
    """

    def __init__(self, dim, kernel_sizes=(3, 1), dilations=(1, 1), causal=True,
                 norm="weight_norm", pad_mode="reflect", compress=1, true_skip=True):
        super().__init__()
        if len(kernel_sizes) != len(dilations):
            raise ValueError(
                f"kernel_sizes and dilations must have the same length; got "
                f"{len(kernel_sizes)} and {len(dilations)}."
            )
        hidden = dim // compress
        block = []
        for i, (kernel_size, dilation) in enumerate(zip(kernel_sizes, dilations)):
            in_chs = dim if i == 0 else hidden
            out_chs = dim if i == len(kernel_sizes) - 1 else hidden
            block += [
                nn.ELU(alpha=1.0),
                StreamableConv1d(in_chs, out_chs, kernel_size, dilation=dilation,
                                 causal=causal, norm=norm, pad_mode=pad_mode),
            ]
        self.block = nn.Sequential(*block)
        if true_skip:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = StreamableConv1d(dim, dim, 1, causal=causal, norm=norm,
                                             pad_mode=pad_mode)

    def forward(self, x):
        return self.shortcut(x) + self.block(x)


def _residual_stage(dim, n_residual_layers, kernel_size, dilation_base, **kwargs):
    return [
        SEANetResnetBlock(dim, kernel_sizes=(kernel_size, 1),
                          dilations=(dilation_base ** j, 1), **kwargs)
        for j in range(n_residual_layers)
    ]


class SEANetEncoder(nn.Module):
    """Convolutional encoder: ``[B, channels, T]`` -> ``[B, dimension, n_frames]``.

    Parameters
    ----------
    channels : int, default=1
        Input channels (BioCodec encodes one EEG channel at a time).
    dimension : int, default=128
        Latent dimension.
    n_filters : int, default=32
        Filters of the first stage; doubled at every downsampling.
    n_residual_layers : int, default=2
        Residual blocks per stage (dilations ``dilation_base ** j``).
    ratios : sequence of int, default=(3, 2, 2)
        Decoder upsampling ratios; the encoder applies them in reverse order as strides.
    kernel_size, last_kernel_size, residual_kernel_size : int, default=3
        Kernels of the first, last and residual convolutions.
    dilation_base : int, default=2
        Dilation growth within a stage.
    causal : bool, default=True
        Causal convolutions.
    norm : str, default="weight_norm"
        Weight parametrisation.
    pad_mode : str, default="reflect"
        Padding mode.
    true_skip : bool, default=True
        Identity skips in residual blocks.
    compress : int, default=1
        Channel reduction inside residual blocks.
    lstm : int, default=2
        LSTM layers after the last stage (0 disables it).

    Attributes
    ----------
    hop_length : int
        Samples per latent frame (product of the ratios).
    """

    def __init__(self, channels=1, dimension=128, n_filters=32, n_residual_layers=2,
                 ratios=(3, 2, 2), kernel_size=3, last_kernel_size=3,
                 residual_kernel_size=3, dilation_base=2, causal=True, norm="weight_norm",
                 pad_mode="reflect", true_skip=True, compress=1, lstm=2):
        super().__init__()
        self.channels = channels
        self.dimension = dimension
        self.ratios = list(reversed(ratios))
        self.hop_length = 1
        for ratio in ratios:
            self.hop_length *= ratio
        conv_kw = dict(causal=causal, norm=norm, pad_mode=pad_mode)
        res_kw = dict(conv_kw, compress=compress, true_skip=true_skip)
        mult = 1
        model = [StreamableConv1d(channels, n_filters, kernel_size, **conv_kw)]
        for ratio in self.ratios:
            dim = mult * n_filters
            model += _residual_stage(dim, n_residual_layers, residual_kernel_size,
                                     dilation_base, **res_kw)
            model += [nn.ELU(alpha=1.0),
                      StreamableConv1d(dim, dim * 2, ratio * 2, stride=ratio, **conv_kw)]
            mult *= 2
        if lstm:
            model += [StreamableLSTM(mult * n_filters, num_layers=lstm)]
        model += [nn.ELU(alpha=1.0),
                  StreamableConv1d(mult * n_filters, dimension, last_kernel_size, **conv_kw)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class SEANetDecoder(nn.Module):
    """Convolutional decoder: ``[B, dimension, n_frames]`` -> ``[B, channels, n_frames * hop]``.

    Parameters
    ----------
    channels : int, default=1
        Output channels.
    dimension : int, default=128
        Latent dimension.
    n_filters : int, default=32
        Filters of the last stage.
    n_residual_layers : int, default=2
        Residual blocks per stage.
    ratios : sequence of int, default=(3, 2, 2)
        Upsampling ratios, in order.
    kernel_size, last_kernel_size, residual_kernel_size : int, default=3
        Kernels of the first, last and residual convolutions.
    dilation_base : int, default=2
        Dilation growth within a stage.
    causal : bool, default=True
        Causal convolutions.
    norm : str, default="weight_norm"
        Weight parametrisation.
    pad_mode : str, default="reflect"
        Padding mode.
    true_skip : bool, default=True
        Identity skips in residual blocks.
    compress : int, default=1
        Channel reduction inside residual blocks.
    lstm : int, default=2
        LSTM layers after the first convolution (0 disables it).
    trim_right_ratio : float, default=1.0
        Share of each transposed convolution's overhang trimmed on the right.
    """

    def __init__(self, channels=1, dimension=128, n_filters=32, n_residual_layers=2,
                 ratios=(3, 2, 2), kernel_size=3, last_kernel_size=3,
                 residual_kernel_size=3, dilation_base=2, causal=True, norm="weight_norm",
                 pad_mode="reflect", true_skip=True, compress=1, lstm=2,
                 trim_right_ratio=1.0):
        super().__init__()
        self.channels = channels
        self.dimension = dimension
        self.ratios = list(ratios)
        self.hop_length = 1
        for ratio in ratios:
            self.hop_length *= ratio
        conv_kw = dict(causal=causal, norm=norm, pad_mode=pad_mode)
        res_kw = dict(conv_kw, compress=compress, true_skip=true_skip)
        mult = 2 ** len(self.ratios)
        model = [StreamableConv1d(dimension, mult * n_filters, kernel_size, **conv_kw)]
        if lstm:
            model += [StreamableLSTM(mult * n_filters, num_layers=lstm)]
        for ratio in self.ratios:
            dim = mult * n_filters
            model += [nn.ELU(alpha=1.0),
                      StreamableConvTranspose1d(dim, dim // 2, ratio * 2, stride=ratio,
                                                causal=causal, norm=norm,
                                                trim_right_ratio=trim_right_ratio)]
            model += _residual_stage(dim // 2, n_residual_layers, residual_kernel_size,
                                     dilation_base, **res_kw)
            mult //= 2
        model += [nn.ELU(alpha=1.0),
                  StreamableConv1d(n_filters, channels, last_kernel_size, **conv_kw)]
        self.model = nn.Sequential(*model)

    def forward(self, z):
        return self.model(z)
