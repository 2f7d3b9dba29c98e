"""Arrays kept on disk as ``.npy`` shards and read a few rows at a time.

A dataset larger than the memory limit (see :func:`vae_audio.data.featurize.build_features`) is
featurized into shards of a few thousand rows, one ``.npy`` file per shard and array. A
:class:`ShardedArray` looks like the NumPy array it stands for where the package needs it
(``len``, ``shape``, ``dtype``, ``ndim``; slicing or indexing with an array returns a lazy
view; ``np.asarray`` reads the rows of a view), and :func:`stream` feeds a training split to
``tf.data`` a batch at a time, so memory holds the batches in flight, never the set.

Why ``.npy`` and not TFRecord: rows are read back by memory-mapping with no per-example
parsing, and the same files serve random access (test clips for listening, encoding for the
prior, training batches) without a second copy. TFRecord was not built to compare; what was
measured (``benchmarks/scale.py``, docs/experiments/scaling.md) is that reading batches keeps up with
training.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import DatasetError

__all__ = ["ShardedArray", "shard_rows_for", "check_shard", "stream", "SHARD_BYTES"]

#: Target size of one shard file of spectrograms, in bytes (the rows per shard follow from it).
SHARD_BYTES = 8 * 2**20


def shard_rows_for(row_bytes: int) -> int:
    """Rows per shard so that one shard of rows of ``row_bytes`` bytes is about :data:`SHARD_BYTES`."""
    return max(1, int(SHARD_BYTES // max(1, row_bytes)))


def check_shard(path: Path, rows: int, row_shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Why the shard at ``path`` is unusable (missing, truncated, other shape), or ``None`` when it is fine.

    Reads only the ``.npy`` header and compares the file size with what the header promises.
    """
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, file_dtype = header(handle)
            offset = handle.tell()
        size = os.path.getsize(path)
    except (OSError, ValueError) as exc:
        return f"{path.name}: {' '.join(str(exc).split())}"
    if tuple(shape) != (rows, *row_shape) or np.dtype(file_dtype) != np.dtype(dtype):
        return f"{path.name}: holds {file_dtype} {tuple(shape)}, expected {np.dtype(dtype)} {(rows, *row_shape)}"
    expected = offset + rows * int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if size != expected:
        return f"{path.name}: {size} bytes, expected {expected} (truncated?)"
    return None


class ShardedArray(np.lib.mixins.NDArrayOperatorsMixin):
    """Rows ``index`` of the concatenation of ``.npy`` shard files, read on demand.

    Parameters
    ----------
    paths : the shard files, in order.
    rows : number of rows of each shard.
    row_shape, dtype : shape and dtype of one row (e.g. ``(freq, frames)``, float32).
    index : global rows this view stands for (default: all, in order).
    """

    def __init__(self, paths: Sequence[Path], rows: Sequence[int], row_shape: tuple[int, ...], dtype,
                 index: np.ndarray | None = None):
        self._paths = [Path(p) for p in paths]
        self._rows = np.asarray(rows, dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._rows)])
        self._row_shape = tuple(int(s) for s in row_shape)
        self._dtype = np.dtype(dtype)
        self._index = np.arange(self._starts[-1], dtype=np.int64) if index is None else np.asarray(index, np.int64)

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._index), *self._row_shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 1 + len(self._row_shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self._dtype.itemsize

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"<ShardedArray {self._dtype} {self.shape} in {len(self._paths)} shard(s)>"

    def __getitem__(self, key):
        """An int gives one row (NumPy); a slice, an index array or a boolean mask a lazy view;
        anything else (e.g. a tuple) reads the view and indexes the array."""
        if isinstance(key, (int, np.integer)):
            return self.read(self._index[[int(key)]])[0]
        if isinstance(key, slice) or (isinstance(key, (list, np.ndarray)) and np.asarray(key).ndim == 1):
            return ShardedArray(self._paths, self._rows, self._row_shape, self._dtype, self._index[key])
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None):
        out = self.read(self._index)
        return out if dtype is None else out.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Arithmetic and comparisons (``x != 0``, via NumPy's operator mixin) read the view and give arrays."""
        inputs = tuple(np.asarray(i) if isinstance(i, ShardedArray) else i for i in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    # ------------------------------------------------------------------ reading
    def read(self, rows: np.ndarray) -> np.ndarray:
        """The global ``rows`` (any order) as one array ``(len(rows), *row_shape)``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self._row_shape), dtype=self._dtype)
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        for s in np.unique(shard):
            where = np.flatnonzero(shard == s)
            out[where] = self._load(int(s), rows[where] - self._starts[s])
        return out

    def _load(self, shard: int, local: np.ndarray) -> np.ndarray:
        path = self._paths[shard]
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
            return np.array(data[local])  # a copy: the mapping is dropped with ``data``
        except (OSError, ValueError, IndexError) as exc:
            raise DatasetError(f"{path}: cannot read this feature shard ({' '.join(str(exc).split())}); delete the "
                               f"cache folder {path.parent} to rebuild it") from None

    def iter_chunks(self, size: int) -> Iterator[np.ndarray]:
        """The rows of the view in order, ``size`` at a time, as arrays."""
        for start in range(0, len(self), size):
            yield self.read(self._index[start:start + size])


def stream(x: ShardedArray, labels: np.ndarray | None, *, batch_size: int, shuffle: bool, seed: int,
           drop_remainder: bool):
    """A ``tf.data.Dataset`` of ``x`` (and ``labels``, one per row) that reads each batch from the shards.

    The same order as the in-memory pipeline of :func:`vae_audio.data.featurize.make_tf_dataset`: the
    row numbers are shuffled each epoch from ``seed`` (``shuffle``) and batched, and each batch's
    rows are read from their shards (memory-mapped, copied, unmapped) by parallel map calls, so
    the same seed gives the same batches in either layout. Elements are dicts
    ``{"spectrogram": float32 (batch, *row_shape, 1)}`` plus ``"label": int32 (batch,)``.
    Memory: the batches in flight, whatever the size of ``x`` (a shuffle buffer of shard slices
    would pin whole shards: TensorFlow slices share their buffer).
    """
    import tensorflow as tf

    lab = None if labels is None else np.asarray(labels, dtype=np.int32)
    row_shape = x.shape[1:]

    def load(idx):
        return x.read(x._index[idx])[..., None], (lab[idx] if lab is not None else np.zeros(len(idx), np.int32))  # noqa: SLF001

    def element(idx):
        block, batch_labels = tf.numpy_function(load, [idx], [tf.float32, tf.int32], stateful=False)
        block.set_shape((None, *row_shape, 1))
        batch_labels.set_shape((None,))
        return {"spectrogram": block} if lab is None else {"spectrogram": block, "label": batch_labels}

    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=int(seed), reshuffle_each_iteration=True)
    order = order.batch(int(batch_size), drop_remainder=drop_remainder)
    return order.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
