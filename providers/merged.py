"""Identical upstream calls in flight in one process share a single call.

Twenty callers asking for the same picture at once (a page embedding one prompt, a retry storm)
cost the upstream one generation: the first caller makes the call, the others wait for its
bytes. Each caller then encodes and stores its own copy, so each still gets its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field

from generator_client import GeneratedImage, ImageOptions, Provider


@dataclass
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    result: GeneratedImage | None = None
    error: BaseException | None = None


class MergedCalls(Provider):
    def __init__(self, provider: Provider):
        self.provider = provider
        self.name = provider.name
        self._lock = threading.Lock()
        self._in_flight: dict[Hashable, _Call] = {}

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        # What the upstream receives: the prompt as sent (style words included), size and seed.
        key = (prompt, options.size, options.seed)
        with self._lock:
            joined = self._in_flight.get(key)
            call = joined or _Call()
            if joined is None:
                self._in_flight[key] = call
        if joined is None:
            try:
                call.result = self.provider.generate(prompt, options)
            except BaseException as error:
                call.error = error
            finally:
                with self._lock:
                    del self._in_flight[key]
                call.done.set()
        else:
            call.done.wait()
        if call.error is not None:
            raise call.error
        assert call.result is not None  # the leader set one or the other
        return call.result
