"""Chunk-by-chunk encoding whose codes equal those of encoding the whole signal at once.

The SEANet encoder is causal except at the two ends of the signal: every convolution pads
``effective_kernel - stride`` samples on the left (reflect padding of its own input) and, at
the end, the few samples that complete the last window. :class:`StreamingEncoder` runs the
same modules on consecutive chunks and keeps, for each of them, exactly the state the
whole-signal pass would have at the chunk boundary:

- a convolution keeps the input samples its next window still needs (the first chunk is padded
  on the left exactly as the whole signal is; the right padding is applied only when the
  stream ends, from the real last samples);
- a residual block keeps the skip-path samples its (delayed) convolution branch has not
  reached yet;
- the LSTM keeps its ``(h, c)`` state;
- ELUs and the quantizer are per sample / per frame and keep nothing.

So the memory used is bounded by the chunk length, not by the signal length.
"""

import torch
from torch import nn

from .conv import StreamableConv1d, extra_padding_for_conv1d, pad1d
from .seanet import SEANetResnetBlock, StreamableLSTM

__all__ = ["StreamingEncoder"]


def _empty_like(x, n_chs):
    return x.new_empty((x.shape[0], n_chs, 0))


class _ConvStream:
    """A causal :class:`StreamableConv1d` fed chunk by chunk."""

    def __init__(self, module):
        if not module.causal:
            raise ValueError("Streaming needs a causal codec (config causal=True).")
        self.module = module
        self.kernel = module.effective_kernel_size
        self.stride = module.stride
        self.padding = self.kernel - self.stride
        self.pending = None   # input not yet consumed (padded coordinates once started)
        self.started = False  # left padding applied
        self.n_in = 0         # input samples seen, for the final right padding
        self.out_chs = module.conv.conv.out_channels

    def _append(self, x):
        self.pending = x if self.pending is None else torch.cat([self.pending, x], dim=-1)

    def push(self, x, final=False):
        self.n_in += x.shape[-1]
        self._append(x)
        if not self.started:
            if final:  # the whole input is here: the whole-signal pass, verbatim
                out, self.pending = self.module(self.pending), None
                return out
            if self.pending.shape[-1] <= self.padding:
                return _empty_like(x, self.out_chs)  # reflect padding needs more samples
            self.pending = pad1d(self.pending, (self.padding, 0), mode=self.module.pad_mode)
            self.started = True
        buf = self.pending
        if final:
            extra = extra_padding_for_conv1d(self.n_in, self.kernel, self.stride,
                                             self.padding)
            buf = pad1d(buf, (0, extra), mode=self.module.pad_mode)
        n_out = (buf.shape[-1] - self.kernel) // self.stride + 1
        if n_out <= 0:
            return _empty_like(x, self.out_chs)
        out = self.module.conv(buf[..., : (n_out - 1) * self.stride + self.kernel])
        # A copy: a view would keep the whole chunk's buffer alive until the next chunk.
        self.pending = None if final else buf[..., n_out * self.stride:].clone()
        return out


class _ResidualStream:
    """A :class:`SEANetResnetBlock`: the skip path waits for the delayed branch."""

    def __init__(self, module):
        self.block = _SequenceStream(module.block)
        self.shortcut = _SequenceStream([module.shortcut])
        self.skip = None

    def push(self, x, final=False):
        skip = self.shortcut.push(x, final)
        self.skip = skip if self.skip is None else torch.cat([self.skip, skip], dim=-1)
        branch = self.block.push(x, final)
        n_out = branch.shape[-1]
        out = self.skip[..., :n_out] + branch
        self.skip = self.skip[..., n_out:].clone()
        return out


class _LSTMStream:
    """A :class:`StreamableLSTM` carrying its ``(h, c)`` state between chunks."""

    def __init__(self, module):
        self.module = module
        self.state = None

    def push(self, x, final=False):
        if x.shape[-1] == 0:
            return x
        seq = x.permute(2, 0, 1)
        out, self.state = self.module.lstm(seq, self.state)
        if self.module.skip:
            out = out + seq
        return out.permute(1, 2, 0)


class _StatelessStream:
    """ELU, identity and other per-sample modules."""

    def __init__(self, module):
        self.module = module

    def push(self, x, final=False):
        return self.module(x)


_PER_SAMPLE = (nn.ELU, nn.Identity)


class _SequenceStream:
    """Modules applied one after the other, each with its own state."""

    def __init__(self, modules):
        self.steps = [_stream_for(m) for m in modules]

    def push(self, x, final=False):
        for step in self.steps:
            x = step.push(x, final)
        return x


def _stream_for(module):
    if isinstance(module, StreamableConv1d):
        return _ConvStream(module)
    if isinstance(module, SEANetResnetBlock):
        return _ResidualStream(module)
    if isinstance(module, StreamableLSTM):
        return _LSTMStream(module)
    if isinstance(module, _PER_SAMPLE):
        return _StatelessStream(module)
    raise TypeError(f"Cannot stream a {type(module).__name__} module.")


class StreamingEncoder:
    """Encode long signals chunk by chunk with the codes of a whole-signal pass.

    Parameters
    ----------
    codec : BioCodec
        The codec (used in eval mode, without gradients). Its encoder must be causal and its
        per-segment RMS normalisation (``config["normalize"]``) off, as in the shipped codecs.
    n_q : int | None
        Codebooks to produce (all when None).

    Notes
    -----
    Feed ``[B, 1, n]`` chunks of any lengths to :meth:`push` and call :meth:`flush` once at
    the end; the concatenated codes ``[B, n_q, n_frames]`` equal ``codec.encode`` of the
    concatenated chunks, ``n_frames = ceil(n_times / hop_length)``. Codes come out as soon
    as the causal receptive field allows (a few frames lag behind the input). The state holds
    less than one frame per layer plus the LSTM state, whatever the signal length.

    Examples
    --------
    >>> stream = StreamingEncoder(codec)  # doctest: +SKIP
    >>> codes = [stream.push(chunk) for chunk in chunks] + [stream.flush()]  # doctest: +SKIP
    >>> codes = torch.cat(codes, dim=-1)  # doctest: +SKIP
    """

    def __init__(self, codec, n_q=None):
        if codec.config.get("normalize"):
            raise ValueError(
                "This codec scales each segment by its RMS (config normalize=True), which "
                "needs the whole signal; encode it with codec.encode instead of streaming."
            )
        self.codec = codec.eval()
        self.n_q = codec.quantizer.check_n_q(n_q)
        self._encoder = _SequenceStream(codec.encoder.model)
        self.n_times = 0
        self._finished = False

    def _run(self, x, final):
        if self._finished:
            raise RuntimeError("This stream was flushed; start a new StreamingEncoder.")
        with torch.inference_mode():
            latent = self._encoder.push(x, final)
            if latent.shape[-1] == 0:
                return torch.empty((x.shape[0], self.n_q, 0), dtype=torch.long,
                                   device=x.device)
            return self.codec.quantizer.encode(latent, n_q=self.n_q)

    def push(self, x):
        """Encode the next chunk.

        Parameters
        ----------
        x : Tensor, shape [B, 1, n]
            The next ``n`` samples of ``B`` signals at the codec rate, normalised.

        Returns
        -------
        codes : Tensor of int64, shape [B, n_q, n_new]
            Codes of the frames completed by this chunk (possibly none).
        """
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"x must have shape [batch, 1, n_times]; got {tuple(x.shape)}.")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or infinite values; clean the signal first.")
        self.n_times += x.shape[-1]
        self._empty = x[..., :0]  # what flush feeds through: same batch, dtype and device
        return self._run(x, final=False)

    def flush(self):
        """End the stream: encode the remaining frames with the whole signal's end padding.

        Returns
        -------
        codes : Tensor of int64, shape [B, n_q, n_last]
            The last frames.
        """
        if self.n_times < self.codec.hop_length:
            raise ValueError(
                f"The stream holds {self.n_times} samples but one token frame needs "
                f"{self.codec.hop_length}. Push more samples before flushing."
            )
        out = self._run(self._empty, final=True)
        self._finished = True
        return out
