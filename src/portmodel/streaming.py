"""Stream a checkpoint between Keras' `.weights.h5` and safetensors, one tensor at a time.

Neither model holds weights here: the PyTorch model is built on the meta device and the
Keras model in a `keras.StatelessScope` (variables with a path and a shape, no values), so
the pairing is `weights.bind`'s and costs no memory. Each tensor is then read, converted and
written on its own. Tensors whose rule only reorders axes (Dense, convolutions, embeddings,
norms: nearly all of a large model) are copied in blocks of rows; safetensors files are
memory-mapped and the pages of each block released once it is copied, so peak memory is
about two blocks, not the checkpoint (bench/weights.py measures it). Tensors whose rule moves values otherwise (GRU gate
reorders, RNN bias sums, attention projections) are converted whole, as in `weights`.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .core.errors import PortmodelError
from .loading import quiet_import
from .weights import axis_order, bind, fit_problems, to_keras, to_torch

BLOCK_BYTES = 16 << 20  # rows copied at a time: the unit of peak memory

_ST_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
}
_ST_CODES = {v: k for k, v in _ST_DTYPES.items()}
_MAX_HEADER = 100 << 20  # safetensors' own limit


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class _Mapping:
    """A tensor's bytes in a file, memory-mapped as an array; `release` drops its resident pages."""

    def __init__(self, fd: int, start: int, dtype: np.dtype, shape: tuple, write: bool):
        self.mm = None
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes == 0:
            self.array = np.zeros(shape, dtype)
            return
        base = start - start % mmap.ALLOCATIONGRANULARITY
        self.mm = mmap.mmap(fd, nbytes + start - base, offset=base, access=mmap.ACCESS_WRITE if write else mmap.ACCESS_READ)
        self.array = np.frombuffer(self.mm, dtype, math.prod(shape), start - base).reshape(shape)

    def release(self) -> None:
        # file-backed pages: dropping them from this process loses nothing (written ones stay in the page cache)
        if self.mm is not None:
            self.mm.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        del self.array
        if self.mm is not None:
            try:
                self.mm.close()
            except BufferError:  # views still held by an exception's traceback: unmapped when freed
                pass


class _SafetensorsFile:
    """`path`, `base` (where tensor data starts) and `tensors` (name -> dtype, shape, offset)."""

    path: str
    base: int
    tensors: dict[str, tuple[str, tuple, int]]
    writable = False

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[_Mapping]:
        """The tensor `name` as a memory-mapped array (writable in a writer)."""
        dtype, shape, start = self.tensors[name]
        with open(self.path, "r+b" if self.writable else "rb") as f:
            m = _Mapping(f.fileno(), self.base + start, _np_dtype(dtype), shape, write=self.writable)
        try:
            yield m
        finally:
            m.close()


class SafetensorsReader(_SafetensorsFile):
    """The header of a safetensors file, checked, and each tensor memory-mapped on demand."""

    def __init__(self, path: str):
        self.path = path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < n <= min(_MAX_HEADER, size - 8):
                raise PortmodelError("not a safetensors file (bad header length: corrupt or truncated)", path)
            try:
                header = json.loads(f.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise PortmodelError("not a safetensors file (the header is not JSON)", path) from None
        if not isinstance(header, dict):
            raise PortmodelError("not a safetensors file (the header is not a JSON object)", path)
        header.pop("__metadata__", None)
        self.base = 8 + n
        self.tensors: dict[str, tuple[str, tuple, int]] = {}
        for name, info in header.items():
            try:
                dtype, shape, (start, end) = _ST_DTYPES[info["dtype"]], tuple(info["shape"]), info["data_offsets"]
                ok = all(isinstance(d, int) and d >= 0 for d in shape) and 0 <= start <= end
            except (KeyError, TypeError, ValueError):
                ok = False
            if not ok or end - start != math.prod(shape) * _np_dtype(dtype).itemsize:
                raise PortmodelError(f"tensor '{name}' has a malformed header entry", path)
            if self.base + end > size:
                raise PortmodelError(f"tensor '{name}' lies past the end of the file (truncated?)", path)
            self.tensors[name] = (dtype, shape, start)


class SafetensorsWriter(_SafetensorsFile):
    """A safetensors file laid out from its tensors' dtypes and shapes, then filled in any order."""

    writable = True

    def __init__(self, path: str | os.PathLike, specs: dict[str, tuple[str, tuple]]):
        self.path = str(path)
        header: dict = {"__metadata__": {"format": "pt"}}
        offset = 0
        self.tensors = {}
        for name, (dtype, shape) in specs.items():
            nbytes = math.prod(shape) * _np_dtype(dtype).itemsize
            header[name] = {"dtype": _ST_CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            self.tensors[name] = (dtype, tuple(shape), offset)
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # tensor data 8-byte aligned, as safetensors writes it
        self.base = 8 + len(raw)
        with open(self.path, "wb") as f:
            f.write(len(raw).to_bytes(8, "little") + raw)
            f.truncate(self.base + offset)


def write_arrays(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """A safetensors file written atomically from in-memory arrays, each copied straight into
    its place: no serialized copy of the whole checkpoint (safetensors' own `save_file`
    builds one), so writing costs no memory beyond the arrays."""
    from .core.fsutil import atomic_path

    with atomic_path(path) as tmp:
        writer = SafetensorsWriter(tmp, {k: (a.dtype.name, a.shape) for k, a in sorted(arrays.items())})
        for key, arr in arrays.items():
            with writer.open(key) as m:
                m.array[...] = arr
                m.release()


def _axis_slice(ndim: int, axis: int, a: int, b: int) -> tuple:
    return tuple(slice(a, b) if i == axis else slice(None) for i in range(ndim))


def copy_permuted(src, dst, order: tuple[int, ...], *, along_source: bool, release=lambda: None) -> None:
    """dst[...] = src.transpose(order), BLOCK_BYTES at a time, in blocks of the memory-mapped
    side's rows (the source's with `along_source`, else the destination's): contiguous there,
    so `release` frees each block's pages. The other side, an h5 dataset, takes the strided
    slices (HDF5 does that well; a strided slice of a memory map maps the whole tensor: the
    page cache hands out large folios)."""
    if src.ndim == 0 or src.size == 0:
        dst[...] = np.asarray(src[...]).transpose(order)
        return
    axis_src = 0 if along_source else order[0]
    axis_dst = order.index(0) if along_source else 0
    rows = src.shape[axis_src]
    step = max(1, BLOCK_BYTES // max(1, src.size // rows * src.dtype.itemsize))
    for a in range(0, rows, step):
        b = min(rows, a + step)
        part = np.asarray(src[_axis_slice(src.ndim, axis_src, a, b)]).transpose(order)
        dst[_axis_slice(dst.ndim, axis_dst, a, b)] = part
        del part
        release()


# -- Keras .weights.h5 paths ------------------------------------------------------------------


def _h5_store_class():
    try:
        quiet_import("keras")
        from keras.src.saving.saving_lib import H5IOStore, _save_state
    except ImportError as exc:  # pragma: no cover - guarded by the keras pin
        raise PortmodelError(f"this Keras version lacks the weights-file internals streaming relies on: {exc}") from None
    return H5IOStore, _save_state


def keras_weight_paths(keras_model) -> dict[int, str]:
    """id(variable) -> the dataset path `save_weights` gives it, by Keras' own traversal."""
    H5IOStore, save_state = _h5_store_class()

    class Recorder(H5IOStore):
        def __init__(self):  # no file: only the paths are wanted
            self.paths: dict[int, str] = {}
            self.where = ""

        def __bool__(self):
            return True

        def make(self, path, metadata=None):
            self.where = path
            return self

        def __setitem__(self, key, value):
            self.paths[id(value)] = f"{self.where}/vars/{key}" if self.where else f"vars/{key}"

    rec = Recorder()
    save_state(keras_model, weights_store=rec, assets_store=None, inner_path="", visited_saveables=set())
    return rec.paths


def save_keras_weights(keras_model, path: str | os.PathLike, fills: dict[int, object]) -> None:
    """`keras_model.save_weights(path)` where `fills[id(variable)](dataset)` writes a variable's
    value into its (created, empty) dataset; variables without a fill are saved as Keras does."""
    H5IOStore, save_state = _h5_store_class()

    done: set[int] = set()

    class Store(H5IOStore):
        def __setitem__(self, key, value):
            fill = fills.get(id(value))
            if fill is None:
                return super().__setitem__(key, value)
            if not self._h5_entry_initialized:
                self._create_h5_group(self._h5_entry_path)
            fill(self._h5_entry_group.create_dataset(key, shape=tuple(value.shape), dtype=str(value.dtype)))
            done.add(id(value))

    store = Store(str(path), mode="w")
    try:
        save_state(keras_model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
    if len(done) != len(fills):  # a layer saved a copy, not its variable: its weight would be lost
        raise PortmodelError(f"{len(fills) - len(done)} Keras weight(s) were not reached by the saving walk; "
                             "convert without streaming (a .keras output)")


# -- the two directions ----------------------------------------------------------------------


def _raise_problems(problems: list[str], path: str) -> None:
    if problems:
        more = f"; ... {len(problems) - 20} more" if len(problems) > 20 else ""
        raise PortmodelError("checkpoint does not fit the model: " + "; ".join(problems[:20]) + more, path)


def stream_to_keras(torch_model, keras_model, checkpoint: str, out: str | os.PathLike) -> int:
    """A safetensors state_dict of `torch_model` -> `keras_model`'s `.weights.h5` at `out`
    (both models may be weightless: meta device / stateless scope). Returns tensors written."""
    reader = SafetensorsReader(checkpoint)
    expected = {k: tuple(v.shape) for k, v in torch_model.state_dict().items()}
    _raise_problems(fit_problems(expected, {k: s for k, (_, s, _) in reader.tensors.items()}), checkpoint)
    bindings = bind(keras_model, torch_model)
    mismatched = sorted(
        {f"{k}: {reader.tensors[k][0]} vs Keras {b.variable.dtype}"
         for b in bindings for k in b.keys if reader.tensors[k][0] != str(b.variable.dtype)}
    )
    if mismatched:  # as transfer_to_keras: never cast silently
        raise PortmodelError("weight dtypes differ (pass --dtype to cast): " + "; ".join(mismatched[:5]), checkpoint)

    def fill_for(b):
        order = axis_order(b.weight, len(b.variable.shape))
        if order is not None and len(b.keys) == 1:
            def fill(ds):
                with reader.open(b.keys[0]) as m:  # keras = torch.transpose(argsort(order))
                    copy_permuted(m.array, ds, tuple(np.argsort(order)), along_source=True, release=m.release)
        else:
            def fill(ds):
                with contextlib.ExitStack() as stack:
                    values = [np.array(stack.enter_context(reader.open(k)).array) for k in b.keys]
                ds[...] = to_keras(b.weight, values, tuple(b.variable.shape))
        return fill

    save_keras_weights(keras_model, out, {id(b.variable): fill_for(b) for b in bindings})
    return len(bindings)


def stream_to_torch(keras_model, torch_model, checkpoint: str, out: str | os.PathLike) -> int:
    """`keras_model`'s `.weights.h5` checkpoint -> a safetensors state_dict of `torch_model` at
    `out` (both models may be weightless). Returns tensors written."""
    import h5py

    bindings = bind(keras_model, torch_model)
    paths = keras_weight_paths(keras_model)
    try:
        f = h5py.File(checkpoint, "r")
    except OSError as exc:
        raise PortmodelError(f"cannot read the weights file (corrupt or truncated?): {exc}", checkpoint) from None
    with f:
        sources, problems = {}, []
        for b in bindings:
            where = paths.get(id(b.variable))
            ds = f.get(where) if where else None
            if not isinstance(ds, h5py.Dataset):
                problems.append(f"no dataset '{where}' for '{b.variable.path}'")
            elif ds.attrs.get("dtype") == "bfloat16":
                raise PortmodelError("bfloat16 .weights.h5 files are converted in memory, not streamed", checkpoint)
            elif tuple(ds.shape) != tuple(b.variable.shape):
                problems.append(f"'{where}': {tuple(ds.shape)} vs {tuple(b.variable.shape)}")
            else:
                sources[id(b.variable)] = ds
        _raise_problems(problems, checkpoint)
        state = torch_model.state_dict()
        specs = {}
        for b in bindings:
            for key in b.keys:
                specs[key] = (str(sources[id(b.variable)].dtype), tuple(state[key].shape))
        for key, t in state.items():  # BatchNorm's counter: Keras has none, it stays 0 (the
            if key not in specs:  # writer's file starts zero-filled; bind() saw every other tensor filled)
                specs[key] = (str(t.dtype).removeprefix("torch."), tuple(t.shape))
        writer = SafetensorsWriter(out, dict(sorted(specs.items())))
        for b in bindings:
            ds = sources[id(b.variable)]
            order = axis_order(b.weight, ds.ndim)
            if order is not None and len(b.keys) == 1:
                with writer.open(b.keys[0]) as m:
                    copy_permuted(ds, m.array, order, along_source=False, release=m.release)
                continue
            for key, value in zip(b.keys, to_torch(b.weight, ds[...])):
                with writer.open(key) as m:
                    rows = value.shape[0]
                    index = slice(b.weight.chunk[0] * rows, (b.weight.chunk[0] + 1) * rows) if b.weight.chunk else ...
                    m.array[index] = value
    return len(specs)


def stateless_models(build_keras, build_torch):
    """(keras model, torch model) built without weight memory: torch on the meta device, Keras
    in a StatelessScope. A model whose code needs real tensors to construct is built normally."""
    import torch

    keras = quiet_import("keras")

    try:
        with torch.device("meta"):
            torch_model = build_torch()
    except PortmodelError:
        raise
    except Exception:  # noqa: BLE001 - user code that reads tensor values while constructing
        torch_model = build_torch()
    with keras.StatelessScope(initialize_variables=False):  # (by default, leaving the scope fills them)
        keras_model = build_keras()
    return keras_model, torch_model


def streamable(checkpoint: str, output: str) -> bool:
    """Whether `portmodel weights` streams this pair of files (else it converts in memory:
    .keras and .pt files, and bfloat16, which Keras' .weights.h5 stores in its own way)."""
    if Path(checkpoint).suffix == ".safetensors" and output.endswith(".weights.h5") and Path(checkpoint).is_file():
        try:
            return all(dtype != "bfloat16" for dtype, _, _ in SafetensorsReader(checkpoint).tensors.values())
        except PortmodelError:
            return True  # streaming reports what is wrong with the file
    if checkpoint.endswith(".weights.h5") and output.endswith(".safetensors") and Path(checkpoint).is_file():
        import h5py

        try:
            with h5py.File(checkpoint, "r") as f:
                found = []
                f.visititems(lambda _, obj: found.append(obj.attrs.get("dtype") == "bfloat16") if isinstance(obj, h5py.Dataset) else None)
            return not any(found)
        except OSError:
            return True
    return False
