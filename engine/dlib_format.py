"""Reading dlib's serialised face network (.dat) into layers, checked against its design."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

CHIP_SIZE = 150
DESCRIPTOR_DIM = 128

_INPUT_LAYER = "input_rgb_image_sized"
# float_details' exponent values that stand for infinities and NaN instead of a power of two.
_FLOAT_SPECIALS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
_CONV_MODE = 0  # dlib's layer_mode: affine_ works per channel rather than per element
_FC_NO_BIAS = 1  # dlib's fc_bias_mode


# --- dlib's serialization format ---------------------------------------------------------


class _Reader:
    """A cursor over a byte string written by dlib's ``serialize``.

    Every way the bytes can fail to be what this network needs ends in a
    ``ValueError`` naming the file and the byte offset.
    """

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._name = name
        self.pos = 0

    def error(self, message: str) -> ValueError:
        return ValueError(
            f"{self._name} is not a usable dlib_face_recognition_resnet_model_v1 file: "
            f"{message} at byte {self.pos}"
        )

    @property
    def at_end(self) -> bool:
        return self.pos == len(self._data)

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self._data):
            raise self.error(f"the file ends early (wanted {count} more bytes)")
        chunk = self._data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def int(self) -> int:
        """dlib's integer: a control byte (sign bit 0x80, byte count in the low nibble,
        0x70 reserved and zero) then the magnitude, little endian."""
        control = self.take(1)[0]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            self.pos -= 1
            raise self.error(f"byte {control:#04x} does not start a dlib integer")
        magnitude = int.from_bytes(self.take(size), "little")
        return -magnitude if control & 0x80 else magnitude

    def count(self) -> int:
        """A size or an index, which is never negative."""
        value = self.int()
        if value < 0:
            raise self.error(f"a negative size ({value})")
        return value

    def bool(self) -> bool:
        byte = self.take(1)
        if byte not in (b"0", b"1"):
            raise self.error(f"{byte!r} is not a dlib bool")
        return byte == b"1"

    def float(self) -> float:
        """dlib's float_details: an integer mantissa then a power-of-two exponent."""
        if self.pos < len(self._data) and self._data[self.pos] & 0x70:
            # dlib's pre-2013 text format, which no network file uses.
            raise self.error("a floating point number in dlib's old text format")
        mantissa = self.int()
        exponent = self.int()
        if exponent in _FLOAT_SPECIALS:
            return _FLOAT_SPECIALS[exponent]
        if not -(2**15) <= exponent < 2**15:
            raise self.error(f"a float exponent out of range ({exponent})")
        return math.ldexp(mantissa, exponent)

    def string(self) -> str:
        return self.take(self.count()).decode("latin-1")

    def next_string_is(self, expected: str) -> bool:
        """Whether a string equal to ``expected`` comes next; reads nothing."""
        start = self.pos
        try:
            return self.string() == expected
        except ValueError:
            return False
        finally:
            self.pos = start

    def version(self, allowed: Sequence[str], what: str) -> str:
        start = self.pos
        name = self.string()
        if name not in allowed:
            self.pos = start
            raise self.error(f"expected {what} ({' or '.join(allowed)}), found {name[:40]!r}")
        return name

    def tensor(self) -> np.ndarray:
        """A resizable_tensor: version 2, its (n, k, nr, nc) shape, then 4-byte
        little-endian IEEE floats."""
        version = self.int()
        if version != 2:
            raise self.error(f"a tensor of unsupported version {version}")
        shape = tuple(self.count() for _ in range(4))
        size = math.prod(shape)
        raw = self.take(4 * size)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        """An alias_tensor: only the (n, k, nr, nc) shape of a view into a layer's params."""
        version = self.int()
        if version != 1:
            raise self.error(f"an alias_tensor of unsupported version {version}")
        n, k, nr, nc = (self.count() for _ in range(4))
        return n, k, nr, nc


@dataclass
class Layer:
    """One computational layer as stored: its kind, the settings that fix its shape
    (checked against the architecture) and its parameters."""

    kind: str
    config: tuple[int, ...] = ()
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _read_conv(r: _Reader, version: str) -> Layer:
    params = r.tensor().ravel()
    filters = r.count()
    nr, nc, stride_y, stride_x, pad_y, pad_x = (r.count() for _ in range(6))
    weight_shape = r.alias()
    bias_shape = r.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers, for training only
        r.float()
    use_bias = r.bool() if version == "con_5" else True
    weight_size = math.prod(weight_shape)
    if weight_shape[0] != filters or weight_shape[2:] != (nr, nc):
        raise r.error(f"con_ filters shaped {weight_shape} for {filters} {nr}x{nc} filters")
    expected = weight_size + (filters if use_bias else 0)
    if params.size != expected or (use_bias and math.prod(bias_shape) != filters):
        raise r.error(f"con_ holds {params.size} parameters where {expected} were expected")
    bias = params[weight_size:] if use_bias else np.zeros(filters, np.float32)
    return Layer(
        "con",
        (filters, nr, nc, stride_y, stride_x, pad_y, pad_x),
        {"weight": params[:weight_size].reshape(weight_shape), "bias": bias},
    )


def _read_affine(r: _Reader, version: str) -> Layer:
    params = r.tensor().ravel()
    gamma_shape = r.alias()
    beta_shape = r.alias()
    mode = r.int()
    disabled = r.bool() if version == "affine_2" else False
    channels = gamma_shape[1]
    if mode != _CONV_MODE or gamma_shape != (1, channels, 1, 1) or beta_shape != gamma_shape:
        raise r.error(f"an affine_ layer that is not per channel (mode {mode}, {gamma_shape})")
    if params.size != 2 * channels:
        raise r.error(f"affine_ holds {params.size} parameters for {channels} channels")
    gamma, beta = params[:channels], params[channels:]
    if disabled:  # dlib then passes its input through unchanged
        gamma, beta = np.ones_like(gamma), np.zeros_like(beta)
    return Layer("affine", (channels,), {"gamma": gamma, "beta": beta})


def _read_pool(r: _Reader, version: str) -> Layer:
    config = tuple(r.count() for _ in range(6))  # nr, nc, stride_y, stride_x, pad_y, pad_x
    return Layer(version.removesuffix("_2"), config)


def _read_fc(r: _Reader, version: str) -> Layer:
    outputs, inputs = r.count(), r.count()
    params = r.tensor().ravel()
    weight_shape = r.alias()
    r.alias()  # the biases' view, empty without a bias
    bias_mode = r.int()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    if weight_shape[:2] != (inputs, outputs) or params.size < inputs * outputs:
        raise r.error(f"fc_ weights shaped {weight_shape} for {inputs} -> {outputs}")
    # dlib multiplies (samples x inputs) by (inputs x outputs); torch wants (outputs x inputs).
    weight = params[: inputs * outputs].reshape(inputs, outputs).T.copy()
    return Layer("fc", (outputs, inputs, bias_mode), {"weight": weight})


def _read_plain(r: _Reader, version: str) -> Layer:
    return Layer(version.removesuffix("_"))


_LAYER_READERS = {
    "con_4": _read_conv,
    "con_5": _read_conv,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "relu_": _read_plain,
    "add_prev_": _read_plain,
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
}


def _read_layer(r: _Reader) -> Layer:
    name = r.version(list(_LAYER_READERS), "a layer")
    return _LAYER_READERS[name](r, name)


def _skip_add_layer_state(r: _Reader, *, input_version: int | None = None) -> None:
    """The training state add_layer writes after its layer: three flags and
    scratch tensors (normally empty), none of which inference needs."""
    for _ in range(3):
        r.bool()
    for _ in range(3):  # x_grad, cached_output, then params_grad (grad_final at the input)
        r.tensor()
    if input_version == 3:
        r.count()  # sample_expansion_factor


@dataclass
class Network:
    """What the file holds: the input layer's channel means and the computational
    layers from the input up; ``wrappers`` lists, from the input up, which of the
    network's levels are computational (``L``) and which are tag or skip layers (``T``),
    which dlib stores only as a version number."""

    means: tuple[float, float, float]
    layers: list[Layer]
    wrappers: str


def read_network(data: bytes, name: str) -> Network:
    r = _Reader(data, name)
    # add_loss_layer writes its own version and loss, then the network under it, whose
    # every level writes its version first and its layer only after the levels below:
    # so the file opens with one version number per level, outermost first.
    if r.int() != 1:
        raise r.error("not a dlib network (no add_loss_layer version 1)")
    loss = r.version(["loss_metric_", "loss_metric_2"], "the metric learning loss")
    if loss == "loss_metric_2":
        r.float()  # margin and distance threshold, which only training uses
        r.float()
    wrappers: list[str] = []
    while True:
        version = r.int()
        if r.next_string_is(_INPUT_LAYER):
            break
        if version not in (1, 2) or len(wrappers) > 1000:
            raise r.error(f"unexpected network structure (level version {version})")
        wrappers.append("T" if version == 1 else "L")
    input_version = version
    if input_version not in (2, 3):
        raise r.error(f"an input add_layer of unsupported version {input_version}")

    r.string()
    means = (r.float(), r.float(), r.float())
    rows, cols = r.count(), r.count()
    if (rows, cols) != (CHIP_SIZE, CHIP_SIZE):
        raise r.error(f"an input of {rows}x{cols} pixels, not {CHIP_SIZE}x{CHIP_SIZE}")
    layers = [_read_layer(r)]
    _skip_add_layer_state(r, input_version=input_version)
    for _ in range(wrappers.count("L")):
        layers.append(_read_layer(r))
        _skip_add_layer_state(r)
    if not r.at_end:
        raise r.error("unexpected bytes after the network")
    return Network(means, layers, "".join(reversed(wrappers)))


# --- the architecture --------------------------------------------------------------------

# From dlib's examples/dnn_face_recognition_ex.cpp, listed from the input up. Each
# entry is a computational layer as (kind, config) with the config _read_layer gives,
# or "tag"/"skip", which have nothing stored but their place.
_Spec = tuple[str, tuple[int, ...]] | str


def _conv_spec(filters: int, size: int, stride: int) -> _Spec:
    # dlib pads by size//2 only when the stride is 1.
    pad = size // 2 if stride == 1 else 0
    return ("con", (filters, size, size, stride, stride, pad, pad))


def _residual_spec(filters: int, *, down: bool) -> list[_Spec]:
    stride = 2 if down else 1
    block: list[_Spec] = [
        "tag",
        _conv_spec(filters, 3, stride),
        ("affine", (filters,)),
        ("relu", ()),
        _conv_spec(filters, 3, 1),
        ("affine", (filters,)),
    ]
    if down:
        block += ["tag", "skip", ("avg_pool", (2, 2, 2, 2, 0, 0))]
    return [*block, ("add_prev", ()), ("relu", ())]


# (filters, residual blocks) per level from the input up; each level's first block
# halves the resolution, except the first level's.
LEVELS = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))


def _architecture() -> list[_Spec]:
    specs: list[_Spec] = [
        _conv_spec(32, 7, 2),
        ("affine", (32,)),
        ("relu", ()),
        ("max_pool", (3, 3, 2, 2, 0, 0)),
    ]
    for index, (filters, blocks) in enumerate(LEVELS):
        for block in range(blocks):
            specs += _residual_spec(filters, down=index > 0 and block == 0)
    specs += [("avg_pool", (0, 0, 1, 1, 0, 0)), ("fc", (DESCRIPTOR_DIM, 256, _FC_NO_BIAS))]
    return specs


def check_architecture(network: Network, name: str) -> None:
    specs = _architecture()
    # The first layer sits in the input add_layer, so it has no level of its own.
    expected_wrappers = "".join("T" if isinstance(s, str) else "L" for s in specs[1:])
    expected_layers = [s for s in specs if not isinstance(s, str)]
    found_layers = [(layer.kind, layer.config) for layer in network.layers]
    if found_layers != expected_layers:
        first = next(
            (
                i
                for i, (a, b) in enumerate(zip(found_layers, expected_layers, strict=False))
                if a != b
            ),
            min(len(found_layers), len(expected_layers)),
        )
        found = found_layers[first] if first < len(found_layers) else "nothing"
        wanted = expected_layers[first] if first < len(expected_layers) else "nothing"
        raise ValueError(
            f"{name} is not dlib_face_recognition_resnet_model_v1: "
            f"layer {first} is {found}, expected {wanted}"
        )
    if network.wrappers != expected_wrappers:
        raise ValueError(
            f"{name} is not dlib_face_recognition_resnet_model_v1: its layers are joined "
            "differently (tag and skip layers elsewhere)"
        )


# --- the PyTorch module ------------------------------------------------------------------
