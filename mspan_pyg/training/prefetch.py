"""Batches on the device, the next one loaded while the model computes on the current one.

:func:`device_batches` is the one way the engine gets batches. Without prefetching it moves each
batch when it is asked for. With prefetching a background thread reads batch ``i + 1`` (the
feature read and the conversion release the GIL) and, with CUDA, copies it to the GPU on a side
stream with ``non_blocking`` copies from page-locked memory, while the main thread runs the model
on batch ``i``. One batch is held ahead, so memory grows by one batch; the order is the loader's.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Dict, Iterable, Iterator, Optional

import torch

_DONE = object()


def move_batch(
    batch: Dict[str, Any], device: torch.device, features_dtype: Optional[torch.dtype] = None
) -> Dict[str, Any]:
    """The batch with every tensor on ``device`` (``None`` entries stay ``None``); with
    ``features_dtype`` the features are converted after the copy (on the device)."""
    out = {
        k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()
    }
    if features_dtype is not None:
        for name in ("appearance", "motion"):
            if out.get(name) is not None:
                out[name] = out[name].to(features_dtype)
    return out


def prefetch_enabled(mode: str, device: torch.device) -> bool:
    """``--prefetch``: on, off, or auto (on with CUDA, where it overlaps the copy)."""
    return mode == "on" or (mode == "auto" and device.type == "cuda")


def device_batches(
    loader: Iterable[Dict[str, Any]],
    device: torch.device,
    prefetch: bool = False,
    features_dtype: Optional[torch.dtype] = torch.float32,
) -> Iterator[Dict[str, Any]]:
    """The loader's batches, in its order, moved to ``device`` (features as ``features_dtype``).

    ``prefetch`` loads one batch ahead in a background thread; an error of the loader is
    raised in the caller at the batch where it happened.
    """
    if not prefetch:
        for batch in loader:
            yield move_batch(batch, device, features_dtype)
        return
    yield from _Prefetcher(loader, device, features_dtype)


class _Prefetcher:
    def __init__(self, loader, device: torch.device, features_dtype):
        self.device = device
        self.features_dtype = features_dtype
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.ready: queue.Queue = queue.Queue(maxsize=1)  # one batch ahead
        self.stop = threading.Event()
        # the iterator is made here: DataLoader draws its base seed (global RNG) when it starts
        self.thread = threading.Thread(target=self._produce, args=(iter(loader),), daemon=True)
        self.thread.start()

    def _produce(self, batches):
        try:
            for batch in batches:
                if self.stream is not None:
                    with torch.cuda.stream(self.stream):
                        batch = move_batch(batch, self.device, self.features_dtype)
                        event = torch.cuda.Event()
                        event.record(self.stream)
                else:
                    batch, event = move_batch(batch, self.device, self.features_dtype), None
                if not self._put((batch, event)):
                    return
            self._put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(error)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        try:
            while True:
                item = self.ready.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                batch, event = item
                if event is not None:
                    stream = torch.cuda.current_stream(self.device)
                    stream.wait_event(event)
                    for value in batch.values():  # the side stream's memory is used here now
                        if torch.is_tensor(value):
                            value.record_stream(stream)
                yield batch
        finally:  # the consumer stopped (end, error, break): let the thread finish
            self.stop.set()
            self.thread.join()
