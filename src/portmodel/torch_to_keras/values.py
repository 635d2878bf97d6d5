"""What the translator knows about a value of PyTorch code, without running it.

Code is translated once, with its parameters as symbols, so a value is described by what
its *code* says: a tensor and the layout the Keras port holds it in (`Tensor`), a module
and what kind of layer it is (`Module`), a class or `partial` that builds modules
(`Builder`), a torch name (`TorchRef`), a constant, or a Python value that is only known at
run time (`Dyn`).

Layouts: the Keras port keeps a tensor either in torch's own axis order (`T`) or channels
last (`CL`: torch's axis 1 moved to the end, what Keras' convolutions, pooling and
BatchNormalization want). `Var(n)` is a function parameter's layout before the function's
uses decide it. A tensor also records which torch axes are known to have size 1 (after a
global pooling), where a flatten needs no transpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

T, CL = "T", "CL"


@dataclass(frozen=True)
class Var:
    """The layout of a function's parameter, decided by what the function does with it."""

    n: int


class Value:
    """Base of the abstract values."""


@dataclass(frozen=True)
class Dyn(Value):
    """A Python value known only at run time (a size, a flag, a configuration object)."""


DYN = Dyn()


@dataclass(frozen=True)
class Const(Value):
    value: Any


@dataclass(frozen=True)
class Tensor(Value):
    layout: Any = T  # T | CL | Var
    rank: int | None = None
    ones: frozenset = frozenset()  # torch axes known to have size 1
    integer: bool = False  # of an integer dtype (torch.arange(n)): `*` with a float promotes in torch only

    def with_(self, **changes) -> Tensor:
        return Tensor(**{"layout": self.layout, "rank": self.rank, "ones": self.ones, "integer": self.integer,
                         **changes})


@dataclass(frozen=True)
class TorchRef(Value):
    """A name from torch: a module (`torch.nn`), a class (`torch.nn.Conv2d`), a function."""

    qual: str


@dataclass(frozen=True)
class Bound(Value):
    """A tensor method before its call (`x.view`)."""

    tensor: Tensor
    name: str
    receiver: str  # the receiver's Keras code


@dataclass(frozen=True)
class Local(Value):
    """A class or function defined in the package (`key`: its qualified name)."""

    key: str


@dataclass(frozen=True)
class Module(Value):
    """An nn.Module instance; `kind` says what it does to layouts (see `kinds`)."""

    kind: Any


@dataclass(frozen=True)
class Builder(Value):
    """A class (or a `partial` of one) that builds modules when called: `nn.BatchNorm2d`,
    `partial(nn.BatchNorm2d, eps=1e-3)`, a block class of the file."""

    kind: Any  # the kind of module it builds; None when not known


@dataclass(frozen=True)
class Items(Value):
    """A list, tuple or dict: its items when the code fixes them, else one value for all."""

    items: tuple | None = None
    each: Value = DYN
    keys: tuple | None = None  # a dict's keys, in order, when constant


@dataclass(frozen=True)
class Shape(Value):
    """`x.shape` / `x.size()`: indexing it reads a torch axis."""

    tensor: Tensor
    code: str  # the tensor's Keras code


@dataclass(frozen=True)
class Instance(Value):
    """`self` inside a class of the package (attributes from its __init__)."""

    cls: str  # qualified class name


@dataclass(frozen=True)
class Weight(Value):
    """`layer.weight` of a translated torch layer: the Keras variable, in torch's shape."""

    layer: Any
    name: str
    owner: str = ""  # the layer's Keras code


@dataclass
class Summary:
    """What a function does, as its callers need it: the layout each parameter wants
    (None: any, the function follows it), and the value it returns."""

    params: list[str]
    layouts: dict[str, Any] = field(default_factory=dict)
    returns: Value = DYN
    training: bool = False  # reads `self.training` (the Keras port takes `training=`)
