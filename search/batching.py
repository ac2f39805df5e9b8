"""Model calls that a strategy makes together reach a provider together, as one batch.

A strategy expands several nodes at once (`search.strategies.gather`). Each expansion
asks the programmer model once. The embedded model generates faster when those requests
are decoded together (`search.providers.llama_batch`), and its answers are reproducible
only when the same requests are batched the same way. Timing cannot decide that, so the
strategy says it: the expansions of one gather are members of one `Group`, and a provider
that batches waits until every member has either sent its request or gone without one
(an answer from the cache, the budget spent, a node reused), then sends the requests,
ordered by seed, as one batch. A cap (the gateway's concurrency: members beyond it are
waiting for a slot, not for the batch) closes a batch early, at the same member every run.

Only the first model call of a member (the programmer's) joins its group; a critic call
after it, or a retry, goes alone. A group that waits longer than FLUSH_AFTER_S for a
member sends what it has: a safety net, never the normal path.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

FLUSH_AFTER_S = 5.0

_member: contextvars.ContextVar[Member | None] = contextvars.ContextVar("orps_batch_member", default=None)


class Group:
    """The members of one gather and the requests they have sent so far."""

    sender: Callable[[list[Any]], list[Any]] | None = None
    """How the provider sends a batch (set by the first request that joins)."""

    def __init__(self, size: int):
        self.size = size
        self.cap = size
        self.accounted = 0
        """Members that have sent a request or gone without one."""
        self.pending: list[tuple[Any, Slot]] = []
        self.batches_sent = 0
        self.lock = threading.Lock()

    def limit(self, cap: int) -> None:
        """At most `cap` requests in one batch (the gateway's concurrency)."""
        with self.lock:
            self.cap = max(1, min(self.cap, cap))

    def _ready(self) -> bool:
        return bool(self.pending) and (len(self.pending) >= self.cap or self.accounted >= self.size)

    def _take(self) -> list[tuple[Any, Slot]]:
        batch, self.pending = self.pending, []
        for _, slot in batch:
            slot.first_batch = self.batches_sent == 0
        self.batches_sent += 1
        return batch


class Slot:
    """Where a member's thread waits for its batch to be sent."""

    def __init__(self) -> None:
        self.sent = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.first_batch = False


class Member:
    def __init__(self, group: Group):
        self.group = group
        self.settled = False
        self.joined_batch = False
        """Its request went into one of the group's batches (not alone, not from the cache)."""
        self.first_batch = False
        """That batch was the group's first: the answers of one batch have places among
        themselves (search.round_stop), answers of another do not share them."""

    def leave(self, send: Callable[[list[Any]], list[Any]] | None = None) -> None:
        """This member will send no request to the group (or has already sent one)."""
        group = self.group
        with group.lock:
            if self.settled:
                return
            self.settled = True
            group.accounted += 1
            batch = group._take() if group._ready() else []
        if batch and group.sender is not None:
            _send(batch, group.sender)


def current() -> Member | None:
    """The group member of this task, while its first model call is still to be made."""
    member = _member.get()
    return member if member is not None and not member.settled else None


async def as_member(group: Group, job: Awaitable[T], on_member: Callable[[Member], None] | None = None) -> T:
    """Run `job` (one expansion) as a member of `group`; `on_member` hears its Member."""
    member = Member(group)
    if on_member is not None:
        on_member(member)
    token = _member.set(member)
    try:
        return await job
    finally:
        member.leave()
        _member.reset(token)


def done_with_first_call() -> None:
    """The calling task's member has made its first model call (or will make none)."""
    member = _member.get()
    if member is not None:
        member.leave()


def join(
    member: Member, request: Any, send: Callable[[list[Any]], list[Any]], cancelled: Callable[[], bool] = lambda: False
) -> Any:
    """From a provider's thread: add `request` to the member's group and block until the
    group's batch is sent with `send(requests) -> one result per request` (requests ordered
    by their `seed`). Returns this request's result."""
    group = member.group
    slot = Slot()
    with group.lock:
        group.sender = send
        if member.settled:  # raced with its own leave: alone
            batch = None
        else:
            member.settled = True
            group.accounted += 1
            group.pending.append((request, slot))
            batch = group._take() if group._ready() else []
    if batch is None:
        return send([request])[0]
    member.joined_batch = True
    if batch:
        _send(batch, send)
    waited = 0.0
    while not slot.sent.wait(0.05):
        waited += 0.05
        if cancelled() or waited >= FLUSH_AFTER_S:
            with group.lock:
                mine = [entry for entry in group.pending if entry[1] is slot]
                if mine:
                    group.pending.remove(mine[0])
            if mine:  # still waiting for the others: go alone (or not at all)
                if cancelled():
                    return None
                _send(mine, send)
            else:
                slot.sent.wait()  # already taken into a batch being sent
            break
    member.first_batch = slot.first_batch
    if slot.error is not None:
        raise slot.error
    return slot.result


def _send(batch: list[tuple[Any, Slot]], send: Callable[[list[Any]], list[Any]]) -> None:
    batch = sorted(batch, key=lambda entry: _seed(entry[0]))
    try:
        results = send([request for request, _ in batch])
    except BaseException as err:  # noqa: BLE001 - every member of the batch hears it
        for _, slot in batch:
            slot.error = err
            slot.sent.set()
        return
    for (_, slot), result in zip(batch, results):
        slot.result = result
        slot.sent.set()


def _seed(request: Any) -> int:
    seed = request.get("seed") if isinstance(request, dict) else None
    return seed if isinstance(seed, int) else 0
