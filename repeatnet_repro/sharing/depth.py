"""RepeatNet depth scaling of a block-structured family: the child -> parent map from a shallower depth.

RepeatNet (Sec. 2.3, "Depth scaling") makes a net deeper at almost the same parameter count by letting
"an entire convolutional layer constitute the parent set", repeated (psi_beta, eq. 1) into child layers
elsewhere in the network; Sec. 3.1 does it for VGG with hand-written maps (conf/sharing/repeat_vgg<n>.yaml).
The paper gives no rule for other families. **Ours**, for families whose depth is a number of repeated
blocks per stage (ResNets, WRNs): the deep net keeps the stages of a shallower member of its family with
N' <= N blocks in a stage, and its block j plays block floor(j N' / N) of the shallow one, so the shallow
net's blocks are stretched evenly over the deep one's. The first deep block playing a shallow block owns
its convs (the parents: the shallow net's weights); the others are children of the convs of the same role
in it. A stage's first block (where width and resolution change) always owns its convs; a later block's
first conv then tiles the narrower input of its parent (psi_beta children), and equal shapes are plain
copies, as in the VGG maps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Optional, Sequence, Tuple

from ..registry import ConfigError

if TYPE_CHECKING:
    from .layers import SharedLayer


@dataclass(frozen=True)
class DepthFamily:
    """A model family whose depth is a number of blocks per stage.

    key: the model key that sets the depth (model.depth); blocks: blocks per stage at a depth, None when the
    value is no depth of the family; depths: the valid values in words."""

    key: str
    blocks: Callable[[int], Optional[Tuple[int, ...]]]
    depths: str


@dataclass(frozen=True)
class DepthSlot:
    """Where a conv sits in its family's layout: stage, block within the stage (from 0), role in the block."""

    family: DepthFamily
    stage: int
    block: int
    role: str


def depth_parents(layers: Sequence["SharedLayer"], parent_depth: int) -> Dict[str, str]:
    """child -> parent layer names making this model a depth-scaled copy of its family's `parent_depth` net."""
    slotted = [layer for layer in layers if layer.depth is not None]
    if not slotted:
        raise ConfigError(f"sharing.parent_depth={parent_depth}: no conv layer of this model declares its place in "
                          "a family of blocks per stage (model=wrn, resnet_cifar and pathfinder do); give the child -> "
                          "parent map in sharing.parents instead (e.g. sharing=repeat_vgg6 for model=vgg)")
    family = slotted[0].depth.family
    blocks: Dict[Tuple[int, int], Dict[str, "SharedLayer"]] = {}
    for layer in slotted:
        blocks.setdefault((layer.depth.stage, layer.depth.block), {})[layer.depth.role] = layer
    stages = sorted({stage for stage, _ in blocks})
    ours = tuple(1 + max(b for s, b in blocks if s == stage) for stage in stages)
    theirs = family.blocks(parent_depth)
    if theirs is None or len(theirs) != len(ours) or theirs == ours or any(t > o for t, o in zip(theirs, ours)):
        raise ConfigError(f"sharing.parent_depth={parent_depth}: the parent net must be a shallower member of this "
                          f"model's family ({family.key} = {family.depths}) with fewer blocks per stage than this "
                          f"one's {list(ours)}" + ("" if theirs is None else f"; depth {parent_depth} has "
                                                   f"{list(theirs)}"))
    parents: Dict[str, str] = {}
    for stage, n, shallow in zip(stages, ours, theirs):
        for j in range(n):
            played = j * shallow // n
            owner = -(-played * n // shallow)  # ceil(played N / N'): the first deep block playing it
            if owner == j:
                continue
            for role, child in blocks[(stage, j)].items():
                if role not in blocks[(stage, owner)]:
                    raise ConfigError(f"sharing.parent_depth={parent_depth}: block {j} of stage {stage} has a "
                                      f"'{role}' conv ({child.layer_name}) that its parent block {owner} lacks")
                parents[child.layer_name] = blocks[(stage, owner)][role].layer_name
    return parents


def stage_blocks(count: Callable[[int], Optional[int]], stages: int) -> Callable[[int], Optional[Tuple[int, ...]]]:
    """blocks() of a family with `stages` equal stages of `count(depth)` blocks each (None: no such depth)."""
    def blocks(depth: int) -> Optional[Tuple[int, ...]]:
        n = count(depth)
        return None if n is None else (n,) * stages

    return blocks
