"""Flows: the requests of one client's connection, chained, in a bounded ring.

A flow starts with whatever a client sends first (usually the 401 challenge)
and is found again by its *client id* once one is known, else by its address
and user agent. Strategy for linking, since different parties make the steps
(a connector's backend registers and fetches tokens, the owner's browser
opens the consent page):

- a request naming a client id (registration's answer, ``/authorize``,
  ``/token``, a bearer token's owner) goes to that client's flow;
- a client id no flow has yet is adopted by the flow of the request's
  address and user agent if that flow has none, else it starts a new flow
  (a client registering again is a new attempt);
- a request with no client id goes to the newest flow of its address and user
  agent, and starts one only if it is a step of a connection (never a stray
  path a scanner tried); but one that *opens* a connection (the first 401
  challenge: no token at all) after that flow already has a client starts a
  new flow — clients share user agents (the TypeScript SDK's and Gemini CLI's
  are both a bare ``node``), and a new client's login is not the old one's;
- a flow quiet for ``IDLE`` seconds is over: the next request starts a new one.

Steps are kept in full up to ``MAX_STEPS``; a request just like the previous
one is only counted, and past the cap only a change between success and
failure is kept, so a client making a million calls costs a few counters.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from vpsmcp.trace.steps import Step

IDLE = 1800.0
MAX_STEPS = 40
HARD_CAP = 2 * MAX_STEPS

Pair = tuple[str, str]  # (address, user agent)


@dataclass(slots=True, eq=False)
class Flow:
    """One client's connection attempt and what came of it."""

    id: str
    started: float
    address: str
    user_agent: str
    client_id: str | None = None
    steps: list[Step] = field(default_factory=list)
    last: Step | None = None  # the latest request, kept or not
    last_key: Hashable = None
    seen: float = 0.0
    requests: int = 0
    errors: int = 0
    untold: int = 0  # requests since the journal last heard of this flow
    untold_errors: int = 0
    untold_last: Step | None = None  # the latest of them, and when it came
    untold_at: float = 0.0
    quirks: set[str] = field(default_factory=set)  # client quirks already noted in this flow

    def count(self, key: Hashable, error: bool, now: float) -> bool:
        """Count a request; True when it repeats the previous one (then it is only counted)."""
        self.requests += 1
        self.errors += error
        self.seen = now
        if key == self.last_key:
            self._untold(error, now)
            return True
        return False

    def keep(self, step: Step, key: Hashable, error: bool, now: float) -> bool:
        """Remember a request unlike the previous one; True when the journal should have it."""
        self.last, self.last_key = step, key
        if len(self.steps) < MAX_STEPS or (len(self.steps) < HARD_CAP and error != self.steps[-1].error):
            self.steps.append(step)
            return True
        self._untold(error, now)
        return False

    def _untold(self, error: bool, now: float) -> None:
        self.untold += 1
        self.untold_errors += error
        self.untold_last, self.untold_at = self.last, now
        return None

    def tally(self) -> tuple[int, int]:
        """Requests (and errors) counted but not written since the last tally; resets."""
        told = (self.untold, self.untold_errors)
        self.untold = self.untold_errors = 0
        return told


class FlowBook:
    """The newest ``capacity`` flows, found by client id or by address and user agent."""

    def __init__(self, capacity: int, idle: float = IDLE) -> None:
        self.capacity = capacity
        self.idle = idle
        self.flows: OrderedDict[str, Flow] = OrderedDict()
        self._by_client: dict[str, Flow] = {}
        self._by_pair: dict[Pair, Flow] = {}

    def place(self, client_id: str | None, pair: Callable[[], Pair], now: float, may_start: bool,
              opens: bool = False) -> Flow | None:
        """The flow a request belongs to (see the module docstring); ``None`` when it starts none."""
        if client_id is not None:
            flow = self._live(self._by_client.get(client_id), now)
            if flow is None:
                flow = self._live(self._by_pair.get(pair()), now)
                if flow is None or flow.client_id is not None:
                    flow = self._start(pair(), now)
                flow.client_id = client_id
                self._by_client[client_id] = flow
        else:
            flow = self._live(self._by_pair.get(pair()), now)
            if flow is not None and opens and flow.client_id is not None:
                flow = None  # a new client behind the same address and user agent
            if flow is None:
                if not may_start:
                    return None
                flow = self._start(pair(), now)
        self.flows.move_to_end(flow.id)
        return flow

    def recent(self, count: int) -> list[Flow]:
        """The ``count`` most recently active flows, newest first."""
        flows = list(self.flows.values())[-count:]
        return flows[::-1]

    def by_client(self, client_id: str) -> Flow | None:
        return self._by_client.get(client_id)

    def _live(self, flow: Flow | None, now: float) -> Flow | None:
        return flow if flow is not None and now - flow.seen < self.idle else None

    def _start(self, pair: Pair, now: float) -> Flow:
        flow = Flow(secrets.token_hex(4), now, pair[0], pair[1], seen=now)
        while flow.id in self.flows:
            flow.id = secrets.token_hex(4)
        self.flows[flow.id] = flow
        self._by_pair[pair] = flow
        while len(self.flows) > self.capacity:
            self._forget(self.flows.popitem(last=False)[1])
        return flow

    def _forget(self, flow: Flow) -> None:
        if flow.client_id is not None and self._by_client.get(flow.client_id) is flow:
            del self._by_client[flow.client_id]
        pair = (flow.address, flow.user_agent)
        if self._by_pair.get(pair) is flow:
            del self._by_pair[pair]
