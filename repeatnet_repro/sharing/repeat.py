"""RepeatNet: child conv weights are learnable repetitions psi_beta(parent) of a parent weight.

psi_beta(x) = b1 x / (1 + exp(b2 x)) (RepeatNet eq. 1), elementwise. A child of shape
(g_out o + r_out, g_in i + r_in, k, k) tiles its parent (o, i, k, k) g_out x g_in times as whole
blocks, tile (a, b) transformed with its own pair (b1, b2) at index a g_in + b; remainder rows, then
remainder columns (r > 0, rot-MNIST widths only) are psi of the first rows / columns of the child
built so far, with one extra pair per dimension. A child of exactly the parent's shape is a plain
copy. Only the weight is shared: every child keeps its own bias (SharedConv2d) and BatchNorm. A child
is a Conv2dRepeat in the authors' code, so its bias starts at zero.

Plans: `width` (each layer is a child of its own parent of shape `base_channels`, the k = 1 layer:
"intra") and `depth` (children read another layer's weight: "inter"), from an explicit child -> parent
map (`parents`, the VGG maps) or derived from a shallower net of the model's family (`parent_depth`,
sharing/depth.py).
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..registry import ConfigError, OneOf, Range
from .base import SCHEMES, SharedWeights, WeightBank, init_weight_, require_layers, with_unshared
from .depth import depth_parents
from .layers import SharedConv2d, SharedLayer

PLANS = ("width", "depth")
BETA_INITS = ("xavier_uniform", "identity")
Shape = Tuple[int, int, int, int]


def psi(x: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """b1 x / (1 + exp(b2 x)), written with a sigmoid so large |b2 x| cannot overflow."""
    return b1 * x * torch.sigmoid(-b2 * x)


class TiledPsi(torch.autograd.Function):
    """All g_out x g_in tiles psi_{a g_in + b}(parent) laid out as the child, in a few passes over the child.

    Autograd of `psi` on broadcast tiles costs about twenty child-sized passes and six strided reductions per
    step; here the forward is four passes and the backward three plus four matrix products (fp32 accumulation),
    on the closed-form derivatives: with s = sigmoid(-b2 x) and v = g s (1 - s), d/db1 = sum g x s,
    d/db2 = -b1 sum v x^2, d/dx = sum_tiles b1 g s - b1 b2 x v. Everything child-sized is in `dtype`, the compute
    dtype (under bf16 autocast half the traffic, and the conv casts nothing), and in the parent's memory format
    (a channels_last parent gives a channels_last child: the conv converts nothing, its weight gradient comes back
    in that layout); the parent's and the betas' gradients come back in fp32.
    """

    @staticmethod
    def layout(parent: torch.Tensor, g_out: int, g_in: int):
        """(channels_last?, the tiles' shape, tiles -> child permutation, the child buffer's shape): the parent
        is read in its memory order, (o, i, k) or, channels_last, (o, k, i) with k = kh kw."""
        o, i, kh, kw = parent.shape
        last = not parent.is_contiguous() and parent.is_contiguous(memory_format=torch.channels_last)
        tiles = (g_out, g_in, o, kh * kw, i) if last else (g_out, g_in, o, i, kh * kw)
        order = (0, 2, 3, 1, 4) if last else (0, 2, 1, 3, 4)
        return last, tiles, order, tuple(tiles[d] for d in order)

    @staticmethod
    def forward(ctx, parent: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor, g_out: int, g_in: int,
                dtype: torch.dtype) -> torch.Tensor:
        o, i, kh, kw = parent.shape
        last, tiles, order, buffer = TiledPsi.layout(parent, g_out, g_in)
        x = (parent.permute(0, 2, 3, 1) if last else parent).reshape(1, -1).to(dtype)
        s = torch.mul((-b2).to(dtype).view(-1, 1), x).sigmoid_()  # (tiles, parent numel), tile-major
        child = torch.empty(buffer, dtype=dtype, device=parent.device)
        torch.mul(torch.mul(s, x).view(tiles).permute(order),
                  b1.to(dtype).view(g_out, g_in, 1, 1, 1).permute(order), out=child)
        ctx.save_for_backward(x, b1, b2, s)
        ctx.layout = last, tiles, order, buffer
        ctx.parent_shape = parent.shape
        if last:
            return child.view(g_out * o, kh, kw, g_in * i).permute(0, 3, 1, 2)
        return child.view(g_out * o, g_in * i, kh, kw)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, b1, b2, s = ctx.saved_tensors
        last, tiles, order, buffer = ctx.layout
        back = tuple(order.index(d) for d in range(len(order)))  # child buffer -> tiles
        with torch.autocast(grad.device.type, enabled=False):  # the products below stay in s's dtype
            g = (grad.permute(0, 2, 3, 1) if last else grad).reshape(buffer)  # a view when grad has the child's layout
            u = torch.empty_like(s)
            torch.mul(g.permute(back), s.view(tiles), out=u.view(tiles))  # g s, tile-major
            column = x.view(-1, 1)  # (T, N) @ (N, 1) as a matrix product: twice as fast as bf16 mv on CPU
            grad_b1, grad_x = (u @ column).view(-1).float(), (b1.to(u.dtype) @ u).float()
            u.addcmul_(u, s, value=-1)  # v = g s (1 - s)
            grad_b2 = -b1 * (u @ (column * column)).view(-1).float()
            grad_x -= x.view(-1).float() * ((b1 * b2).to(u.dtype) @ u).float()
        o, i, kh, kw = ctx.parent_shape
        grad_x = grad_x.to(b1.dtype)
        grad_x = grad_x.view(o, kh, kw, i).permute(0, 3, 1, 2) if last else grad_x.view(o, i, kh, kw)
        return grad_x, grad_b1, grad_b2, None, None, None


def compute_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype autocast computes in on t's device, else t's own."""
    device = t.device.type
    if device == "meta":  # counting builds on the meta device, which has no autocast
        return t.dtype
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else t.dtype


class Tiling(nn.Module):
    """The learnable map parent (o, i, k, k) -> child (co, ci, k, k) and its beta pairs.

    beta init (RepeatNet code): xavier_uniform = each of b1, b2 is Xavier-uniform on a (1, R)
    tensor, i.e. U(+-sqrt(6 / (1 + R))), R = g_out g_in; the remainder pairs are U(0, 1).
    identity (**ours**): b1 = 2, b2 = 0 everywhere, so every child starts as an exact copy.
    """

    def __init__(self, parent_shape: Shape, child_shape: Shape, beta_init: str):
        super().__init__()
        (o, i), (co, ci) = parent_shape[:2], child_shape[:2]
        self.g_out, self.r_out = divmod(co, o)
        self.g_in, self.r_in = divmod(ci, i)
        tiles = self.g_out * self.g_in
        if beta_init == "identity":
            b1, b2 = torch.full((tiles,), 2.0), torch.zeros(tiles)
            extra = lambda: torch.tensor([2.0, 0.0])  # noqa: E731
        else:
            bound = math.sqrt(6.0 / (1 + tiles))
            b1, b2 = torch.empty(tiles).uniform_(-bound, bound), torch.empty(tiles).uniform_(-bound, bound)
            extra = lambda: torch.rand(2)  # noqa: E731
        self.b1, self.b2 = nn.Parameter(b1), nn.Parameter(b2)
        self.register_parameter("rows", nn.Parameter(extra()) if self.r_out else None)
        self.register_parameter("cols", nn.Parameter(extra()) if self.r_in else None)

    def forward(self, parent: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():  # inductor fuses psi on the broadcast tiles and its autograd by itself
            o, i, kh, kw = parent.shape
            grid = (self.g_out, self.g_in, 1, 1, 1, 1)
            tiles = psi(parent, self.b1.view(grid), self.b2.view(grid))  # (g_out, g_in, o, i, kh, kw)
            child = tiles.transpose(1, 2).reshape(self.g_out * o, self.g_in * i, kh, kw)
        else:
            remainder = self.rows is not None or self.cols is not None  # psi of the blocks is concatenated in fp32
            child = TiledPsi.apply(parent, self.b1, self.b2, self.g_out, self.g_in,
                                   parent.dtype if remainder else compute_dtype(parent))
        if self.rows is not None:
            child = torch.cat([child, psi(child[:self.r_out], self.rows[0], self.rows[1])], dim=0)
        if self.cols is not None:
            child = torch.cat([child, psi(child[:, :self.r_in], self.cols[0], self.cols[1])], dim=1)
        return child

    def extra_repr(self) -> str:
        return f"tiles={self.g_out}x{self.g_in}, remainder=({self.r_out}, {self.r_in})"


class RepeatBank(WeightBank):
    """One parent weight (initialised as `parent_init`) and the layers built from it (a layer of the
    parent's own shape is a plain copy)."""

    scheme = "repeat"

    def __init__(self, parent_shape: Shape, layers: Sequence[SharedConv2d], beta_init: str, parent_init: str):
        super().__init__()
        copies = [tuple(layer.weight_shape) == tuple(parent_shape) for layer in layers]
        self.parent = nn.Parameter(init_weight_(torch.empty(parent_shape), parent_init))
        self.tilings = nn.ModuleDict({str(slot): Tiling(parent_shape, layer.weight_shape, beta_init)
                                      for slot, (layer, copy) in enumerate(zip(layers, copies)) if not copy})
        self._tiling: List[Optional[Tiling]] = [None if copy else self.tilings[str(slot)]
                                                for slot, copy in enumerate(copies)]
        self.attach(layers)

    def weight(self, slot: int) -> torch.Tensor:
        tiling = self._tiling[slot]
        return self.parent if tiling is None else tiling(self.parent)

    def summary(self) -> Dict[str, Any]:
        tiles = {name: (None if t is None else [t.g_out, t.g_in, t.r_out, t.r_in])
                 for name, t in zip(self.layer_names, self._tiling)}
        return {**super().summary(), "parent_shape": list(self.parent.shape), "tiles": tiles}


def zero_bias_(children: Sequence[SharedConv2d]) -> None:
    """Children start with a zero bias, as the authors' Conv2dRepeat."""
    for child in children:
        if child.bias is not None:
            nn.init.zeros_(child.bias)


def check_child(child: SharedConv2d, parent_shape: Shape, parent_name: str, remainder: Optional[bool]) -> None:
    """A child has the parent's kernel, is at least as wide, and (unless remainders are allowed) a whole multiple.

    remainder None: as the child declares (the rot-MNIST CNNs, whose widths are explicit lists, allow them)."""
    (o, i, k, _), (co, ci, ck, _) = parent_shape, child.weight_shape
    what = f"sharing=repeat: layer {child.layer_name} {tuple(child.weight_shape)} as a child of {parent_name} " \
           f"{tuple(parent_shape)}"
    if ck != k:
        raise ConfigError(f"{what}: kernel sizes differ ({ck} vs {k}); a parent must have the child's kernel size")
    if co < o or ci < i:
        raise ConfigError(f"{what}: a child must be at least as wide as its parent in both channel dims")
    if not (child.remainder if remainder is None else remainder) and (co % o or ci % i):
        dims = [f"{c}/{p} = {c / p:.3g}" for c, p in ((co, o), (ci, i)) if c % p]
        raise ConfigError(f"{what}: {', '.join(dims)} is not whole; use widths that are multiples of the "
                          f"parent's ({o}, {i}), or set sharing.remainder=true (RepeatNet's rule for the rot-MNIST "
                          "models: extra rows/columns are psi of the first ones)")


def width_plan(layers: Sequence[SharedConv2d], k_rep: int, remainder: Optional[bool], beta_init: str
               ) -> Dict[str, WeightBank]:
    """Each layer with `base_channels` different from its own is a child of a parent of the base shape.

    The parent belongs to the child (the authors' "intra" Conv2dRepeat), which draws it Xavier-uniform.
    """
    if not any(layer.base_channels is not None for layer in layers):
        raise ConfigError("sharing=repeat sharing.plan=width: no conv layer of this model declares base_channels "
                          "(its k = 1 shape); give its convs base_channels, or use sharing.plan=depth with "
                          "sharing.parents")
    unshared, banks = [], {}
    for layer in layers:
        base = layer.base_channels
        if base is None or tuple(base) == tuple(layer.weight_shape[:2]):
            unshared.append(layer)
            continue
        parent_shape = (base[0], base[1], layer.kernel_size, layer.kernel_size)
        check_child(layer, parent_shape, "its base shape", remainder)
        banks[layer.layer_name.replace(".", "_")] = RepeatBank(parent_shape, [layer], beta_init, "xavier_uniform")
        zero_bias_([layer])
    if k_rep > 1 and not banks:
        raise ConfigError(f"sharing.k_rep={k_rep}, but no layer is wider than its base shape: this model's widths "
                          "do not follow sharing.k_rep (the models in conf/model/ read it as model.width_mult, "
                          "resnet16 as model.k)")
    return with_unshared(unshared, banks)


def resolve(name: str, layers: Sequence[SharedConv2d]) -> SharedConv2d:
    """The layer a plan names: its qualified module name or a unique dotted suffix of it."""
    found = [layer for layer in layers if layer.layer_name == name or layer.layer_name.endswith("." + name)]
    if len(found) == 1:
        return found[0]
    valid = ", ".join(layer.layer_name for layer in layers)
    if not found:
        raise ConfigError(f"sharing.parents: no conv layer named '{name}'; valid names (or unique dotted "
                          f"suffixes of them): {valid}")
    raise ConfigError(f"sharing.parents: '{name}' is ambiguous, it names {[f.layer_name for f in found]}; "
                      "use more of the qualified name")


def depth_plan(layers: Sequence[SharedConv2d], parents: Dict[str, str], remainder: Optional[bool], beta_init: str
               ) -> Dict[str, WeightBank]:
    """Children read the weight of another layer (a parent, which keeps its own weight and init: an
    ordinary nn.Conv2d in the authors' VGGs)."""
    if not parents:
        raise ConfigError("sharing=repeat sharing.plan=depth needs sharing.parents, a child -> parent map "
                          "(e.g. sharing=repeat_vgg4), or sharing.parent_depth, the depth of a shallower net of the "
                          "model's family to derive it from (e.g. 16 for model=wrn)")
    parent_of: Dict[SharedConv2d, SharedConv2d] = {}
    for child_name, parent_name in parents.items():
        child, parent = resolve(str(child_name), layers), resolve(str(parent_name), layers)
        if child is parent:
            raise ConfigError(f"sharing.parents: {child.layer_name} is mapped to itself")
        if child in parent_of:
            raise ConfigError(f"sharing.parents names {child.layer_name} twice (as '{child_name}' and again)")
        parent_of[child] = parent
    for child, parent in parent_of.items():
        if parent in parent_of:
            raise ConfigError(f"sharing.parents: {parent.layer_name} is the parent of {child.layer_name} but itself "
                              f"a child of {parent_of[parent].layer_name}; a parent must own its weight "
                              f"(map {child.layer_name} to {parent_of[parent].layer_name} instead)")
        check_child(child, parent.weight_shape, parent.layer_name, remainder)
    families: Dict[SharedConv2d, List[SharedConv2d]] = {}
    for layer in layers:
        if layer in parent_of:
            families.setdefault(parent_of[layer], []).append(layer)
    unshared = [layer for layer in layers if layer not in parent_of and layer not in families]
    banks = {parent.layer_name.replace(".", "_"): RepeatBank(parent.weight_shape, [parent, *children], beta_init,
                                                             parent.init)
             for parent, children in sorted(families.items(), key=lambda f: layers.index(f[0]))}
    zero_bias_(list(parent_of))
    return with_unshared(unshared, banks)


@SCHEMES.register("repeat")
def repeat(layers: List[SharedLayer], plan: Annotated[str, OneOf(PLANS)] = "width",
           k_rep: Annotated[int, Range(ge=1)] = 1, parents: Dict[str, str] = {},
           parent_depth: Annotated[Optional[int], Range(ge=1)] = None, remainder: Optional[bool] = None,
           beta_init: Annotated[str, OneOf(BETA_INITS)] = "xavier_uniform") -> SharedWeights:
    """plan: width (parents = the layers' base_channels shapes; models read k_rep as their width
    multiplier, k_rep = 1 is the base model) or depth (parents: child -> parent layer names, or
    parent_depth: derive them from that shallower depth of the model's family); remainder: allow widths
    that are not multiples of the parent's (RepeatNet's remainder rule; null = as the model's layers
    declare: the rot-MNIST CNNs do); beta_init: xavier_uniform | identity."""
    require_layers(layers, "repeat", grouped=False)
    refused = next((layer for layer in layers if layer.repeat_refusal), None)
    if refused is not None:
        raise ConfigError(f"sharing=repeat: layer {refused.layer_name} cannot be a RepeatNet parent or child: "
                          f"{refused.repeat_refusal}")
    if plan not in PLANS:
        raise ConfigError(f"sharing.plan={plan}: valid plans are {', '.join(PLANS)}")
    if beta_init not in BETA_INITS:
        raise ConfigError(f"sharing.beta_init={beta_init}: valid values are {', '.join(BETA_INITS)}")
    if k_rep < 1:
        raise ConfigError(f"sharing.k_rep={k_rep}: the width multiplier must be >= 1")
    if plan == "width":
        if parents or parent_depth is not None:
            raise ConfigError("sharing.parents and sharing.parent_depth are only read by sharing.plan=depth; width "
                              "plans take their parents from the layers' base_channels")
        banks = width_plan(layers, k_rep, remainder, beta_init)
    else:
        if k_rep != 1:
            raise ConfigError(f"sharing.k_rep={k_rep} only applies to sharing.plan=width")
        if parents and parent_depth is not None:
            raise ConfigError(f"sharing.parents and sharing.parent_depth={parent_depth} are both set: give the "
                              "child -> parent map or the depth to derive it from, not both")
        if parent_depth is not None:
            parents = depth_parents(layers, parent_depth)
        banks = depth_plan(layers, parents, remainder, beta_init)
    return SharedWeights("repeat", banks)
