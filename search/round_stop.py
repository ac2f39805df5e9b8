"""A round that ends at its first satisfying node, the same way on every run.

A round's expansions are sent to the embedded model as one batch (search.batching), and
the model's child answers each of them as soon as its sequence ends (model_worker), while
the longer answers are still being generated. When the search stops at a node passing every
test, the round need not wait for the rest: once an answer's node is satisfying, the answers
still being generated are cancelled and the round ends there.

Which nodes the round then holds must not depend on timing (the same seed gives the same
tree). Each answer of the batch says where it came among the batch's answers
(`Completion.batch_order`: 0 ended first), and that place is the same on every run of the
same batch. So a node joins the tree only in that order: the node of place k is recorded
once the nodes of places 0..k-1 are decided (recorded and not satisfying), and is dropped
when one of them was satisfying. Its sandbox check may start earlier (it only runs the
candidate), so checks overlap the generation and each other as before. The round holds
exactly the answers up to the first satisfying one in that order, whatever the checks'
speed or when the cancel reached the model.

Answers without a place (from the cache, a hosted model, a request sent alone) are decided
as they come and never dropped; the batch's answers wait for them. A satisfying one ends
the round too. Calls to a hosted model are never cancelled: they are paid for.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import TypeVar

from search import batching
from search.tree import Node

T = TypeVar("T")

_seat: contextvars.ContextVar[Seat | None] = contextvars.ContextVar("orps_round_seat", default=None)


class Round:
    """The expansions of one gather that ends at its first node for which `stop_when` holds."""

    def __init__(self, stop_when: Callable[[Node], bool]):
        self.stop_when = stop_when
        self.stopped = False
        self.decided: set[int] = set()
        """Places (batch_order) whose nodes are decided."""
        self.open = 0
        """Answers without a place, not yet decided: the batch's answers wait for them."""
        self.seats: list[Seat] = []
        self._changed: asyncio.Event | None = None

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _stop(self) -> None:
        self.stopped = True
        for seat in self.seats:
            if seat.waiting_for_batch():
                seat.cancelled_by_round = True
                assert seat.task is not None  # a seat waiting for its answer runs in a task
                seat.task.cancel()


class Seat:
    """One expansion's place in its round."""

    def __init__(self, round_: Round):
        self.round = round_
        self.task: asyncio.Task[object] | None = None
        self.batch_member: batching.Member | None = None
        self.answered = False
        self.order: int | None = None
        self.decided = False
        self.cancelled_by_round = False

    def waiting_for_batch(self) -> bool:
        """Still waiting for its answer from the embedded model's batch (a call that can be
        cancelled at no cost: it is our own process)."""
        member = self.batch_member
        return (
            not self.answered
            and member is not None
            and member.joined_batch
            and self.task is not None
            and not self.task.done()
        )

    def answer(self, order: int | None) -> None:
        """The expansion has its answer (call at once, before awaiting anything else)."""
        if self.answered:
            return
        self.answered, self.order = True, order
        if order is None:
            self.round.open += 1

    async def turn(self) -> bool:
        """Wait until this answer's node may join the tree; False: the round ended before it."""
        round_ = self.round
        if self.order is None:
            return True  # decided as it comes
        while not round_.stopped and (round_.open or self._earlier_to_come()):
            await round_._wait_change()
        return not round_.stopped

    def _earlier_to_come(self) -> bool:
        """An earlier place is not decided yet and some expansion may still bring it (an
        answer retried alone after its batch was lost comes without a place)."""
        assert self.order is not None  # asked by an answer with a place
        missing = any(o not in self.round.decided for o in range(self.order))
        return missing and any(
            seat is not self and not seat.decided and (seat.answered or not (seat.task and seat.task.done()))
            for seat in self.round.seats
        )

    def decide(self, node: Node | None) -> None:
        """This answer's node is recorded (or there is none); a satisfying one ends the round."""
        if self.decided or not self.answered:
            return
        self.decided = True
        round_ = self.round
        if self.order is None:
            round_.open -= 1
        else:
            round_.decided.add(self.order)
        if node is not None and not round_.stopped and round_.stop_when(node):
            round_._stop()
        round_._notify()


def current() -> Seat | None:
    """The seat of the calling expansion, when its round can end early."""
    return _seat.get()


async def seated(round_: Round | None, group: batching.Group, job: Awaitable[T]) -> T | None:
    """Run `job` (one expansion) as a member of `group`, seated in `round_` (None: a round
    that runs to its end). None when the round ended while it waited for its answer."""
    if round_ is None:
        return await batching.as_member(group, job)
    seat = Seat(round_)
    seat.task = asyncio.current_task()
    round_.seats.append(seat)
    token = _seat.set(seat)
    try:
        return await batching.as_member(group, job, on_member=lambda member: setattr(seat, "batch_member", member))
    except asyncio.CancelledError:
        if not seat.cancelled_by_round:
            raise
        uncancel = getattr(seat.task, "uncancel", None)  # Python 3.11+: the task goes on normally
        if uncancel is not None:
            uncancel()
        return None
    finally:
        seat.decide(None)  # an answer whose node was never decided (dropped, or an error) holds no one
        _seat.reset(token)
