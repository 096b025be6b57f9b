"""Hop counts from lineage-walk rows, in memory (the statements are :mod:`driftline.store.graph`).

Hop counts are shortest directed distances: a parent is 1 hop away, a grandparent 2, ...

Closure rows (``near, far, ...``: every edge of an ancestor or descendant subgraph once) are
labelled breadth-first (:func:`closure_hops`, certified, else a plain BFS). Chain-walk rows are
labelled by Dijkstra over the chains' entry points (:class:`ChainHops`).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from driftline.store.models import Relative

_new = object.__new__


def relatives_from_keys(keys: Iterable[tuple[int, str, int, str]]) -> list[Relative]:
    """Relatives from ``(hops, name, version, id)`` tuples, in that order. Bypasses the
    dataclass ``__init__`` (four ``object.__setattr__`` calls per frozen instance): same
    objects, a third of the cost on walks of thousands of nodes."""
    out: list[Relative] = []
    append = out.append
    for h, n, v, i in keys:
        r = _new(Relative)
        d = r.__dict__
        d["id"] = i
        d["hops"] = h
        d["name"] = n
        d["version"] = v
        append(r)
    return out


def bfs_hops(rows: Iterable[Sequence[Any]], start: int) -> dict[int, int]:
    """Shortest hop counts from ``start`` (included, 0) over closure rows (``near`` -> ``far``)."""
    adj: dict[int, list[int]] = {}
    for r in rows:
        n = r[0]
        if n in adj:
            adj[n].append(r[1])
        else:
            adj[n] = [r[1]]
    hops = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        h = hops[node] + 1
        for nxt in adj.get(node, ()):
            if nxt not in hops:
                hops[nxt] = h
                queue.append(nxt)
    return hops


def closure_hops(rows: Sequence[Sequence[Any]], start: int) -> dict[int, int]:
    """Shortest hop counts from ``start`` (included, 0) over closure rows ``(near, far, ...)``.

    The walk emits edges breadth-first in practice (SQLite's recursive queue is FIFO,
    PostgreSQL iterates level by level), so one pass labelling each node from the first edge
    that reaches it usually gives the distances. That is certified, not assumed: the labels are
    shortest distances iff every edge satisfies ``hops[far] <= hops[near] + 1`` (each label is
    the length of a real path by construction). Otherwise a plain BFS computes them.
    """
    hops = {start: 0}
    get = hops.get
    for r in rows:
        far = r[1]
        if far not in hops:
            h = get(r[0])
            if h is None:
                return bfs_hops(rows, start)
            hops[far] = h + 1
    for r in rows:
        if hops[r[1]] > hops[r[0]] + 1:
            return bfs_hops(rows, start)
    return hops


def relatives_from_closure(
    rows: Sequence[Sequence[Any]], start: int, max_hops: int | None = None
) -> list[Relative]:
    """Relatives (nearest first; ties by name, version, id) from :data:`CLOSURE` rows.

    Same result as labelling with :func:`closure_hops` and keeping one row per relative, fused
    into one pass over the rows (plus the certificate pass) for the common breadth-first order.
    """
    hops = {start: 0}
    get = hops.get
    keys: list[tuple[int, str, int, str]] | None = []
    for near, far, i, n, v in rows:
        if far not in hops:
            h = get(near)
            if h is None:
                keys = None
                break
            h += 1
            hops[far] = h
            keys.append((h, n, v, i))  # type: ignore[union-attr]
    if keys is not None:
        for r in rows:
            if hops[r[1]] > hops[r[0]] + 1:
                keys = None
                break
    if keys is None:  # not breadth-first: label by BFS
        hops = bfs_hops(rows, start)
        node = {r[1]: r for r in rows}
        keys = [(hops[far], r[3], r[4], r[2]) for far, r in node.items()]
    if max_hops is not None:
        keys = [k for k in keys if k[0] <= max_hops]
    keys.sort()
    return relatives_from_keys(keys)


def path_from_closure(
    rows: Sequence[Sequence[Any]], start: int, start_id: str, target: int
) -> list[str] | None:
    """Shortest path ``target -> ... -> start`` (downward, as ids) from ``start``'s upward
    :data:`CLOSURE` rows; among equally short choices the smallest id is taken at each step."""
    hops = closure_hops(rows, start)
    if target not in hops:
        return None
    ids = {start: start_id}
    down: dict[int, list[int]] = {}
    for near, far, i, _n, _v in rows:
        ids[far] = i
        down.setdefault(far, []).append(near)
    path = [ids[target]]
    node = target
    while node != start:
        node = min((c for c in down[node] if hops[c] == hops[node] - 1), key=ids.__getitem__)
        path.append(ids[node])
    return path


class ChainHops:
    """Shortest hop counts from a start ``(chain, pos)`` over :data:`CHAIN` link rows.

    Inside a chain the only edges are chain edges, one hop per position; between chains only
    links. So a shortest path is a sequence of chain runs joined by links, and Dijkstra over the
    *entry points* (the start and the links' far endpoints) gives each entry's distance, with a
    link ``near -> far`` reachable from an entry ``e`` of its near chain when ``near`` is at or
    past ``e`` in the walk's direction, at cost ``|e.pos - near.pos| + 1``. A model ``(c, p)`` of
    a reached chain is ``min(h_e + |e.pos - p|)`` over the entries ``e`` of ``c`` at or before
    ``p`` in the walk's direction. Positions are handled as ``q = pos`` upwards and
    ``q = -pos`` downwards, so "at or past" is always ``q <= q_e``.
    """

    __slots__ = ("keys", "qs", "sign", "single")

    def __init__(
        self,
        links: Iterable[Sequence[Any]],
        start: tuple[int, int],
        direction: str,
        max_hops: int | None = None,
    ) -> None:
        sign = 1 if direction == "up" else -1
        self.sign = sign
        out: dict[int, list[tuple[int, int, int]]] = {}  # near chain -> [(q, far chain, far pos)]
        for r in links:
            c = r[0]
            item = (sign * r[1], r[5], r[6])
            if c in out:
                out[c].append(item)
            else:
                out[c] = [item]
        for lst in out.values():
            lst.sort()
        dist = {start: 0}
        done: dict[int, list[tuple[int, int]]] = {}  # chain -> [(q, h + q)] of expanded entries
        heap = [(0, start[0], start[1])]
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            h, c, k = pop(heap)
            if dist[(c, k)] < h:
                continue
            qk = sign * k
            key = h + qk
            seen = done.get(c)
            if seen is None:
                done[c] = [(qk, key)]
            elif any(q >= qk and kk <= key for q, kk in seen):
                continue  # an expanded entry above reaches everything this one does, as soon
            else:
                seen.append((qk, key))
            for q, fc, fp in out.get(c, ()):
                if q > qk:
                    break
                nh = key - q + 1
                if max_hops is not None and nh > max_hops:
                    continue
                far = (fc, fp)
                old = dist.get(far)
                if old is None or nh < old:
                    dist[far] = nh
                    push(heap, (nh, fc, fp))
        # per chain: entries by q ascending with the suffix minimum of h_e + q_e
        single: dict[int, tuple[int, int]] = {}  # chain -> (q, h + q) of its only entry
        qs: dict[int, list[int]] = {}
        keys: dict[int, list[int]] = {}
        for c, entries in done.items():
            if len(entries) == 1:
                single[c] = entries[0]
                continue
            entries.sort()
            best = []
            m = entries[-1][1]
            for _q, key in reversed(entries):
                m = key if key < m else m
                best.append(m)
            best.reverse()
            qs[c] = [q for q, _ in entries]
            keys[c] = best
        self.single = single
        self.qs = qs
        self.keys = keys

    def hops(self, chain: int, pos: int) -> int | None:
        """Hops from the start to model ``(chain, pos)``, or None if not reached."""
        q = self.sign * pos
        one = self.single.get(chain)
        if one is not None:
            return one[1] - q if q <= one[0] else None
        qs = self.qs.get(chain)
        if qs is None:
            return None
        i = bisect_left(qs, q)
        if i == len(qs):
            return None
        return self.keys[chain][i] - q


def _chain_walk(
    rows: Sequence[Sequence[Any]], direction: str, max_hops: int | None
) -> ChainHops | None:
    """:class:`ChainHops` of :data:`CHAIN`-shaped rows (None without a start row)."""
    first = rows[0] if rows else None
    if first is None or first[2] is not None or first[5] is not None:
        first = next((r for r in rows if r[2] is None and r[5] is None), None)
        if first is None:
            return None
    links = [r for r in rows if r[5] is not None]
    return ChainHops(links, (first[0], first[1]), direction, max_hops)


def relatives_from_chains(
    rows: Sequence[Sequence[Any]], direction: str, max_hops: int | None = None
) -> list[Relative]:
    """Relatives (nearest first; ties by name, version, id) from :data:`CHAIN` rows."""
    ch = _chain_walk(rows, direction, max_hops)
    if ch is None:
        return []
    sign, single, hops = ch.sign, ch.single.get, ch.hops
    if max_hops is None and not ch.qs:
        # every reached chain has one entry, at the end of its range: hops = key - q (the
        # start is the one row at 0 hops)
        base = {c: key for c, (_q, key) in ch.single.items()}
        try:
            if sign == 1:
                keys = [(base[c] - p, n, v, i) for c, p, i, n, v, _f, _g in rows if i is not None]
            else:
                keys = [(base[c] + p, n, v, i) for c, p, i, n, v, _f, _g in rows if i is not None]
        except KeyError:  # a chain the walk did not reach (not expected): the general path
            pass
        else:
            keys.sort()
            if keys and keys[0][0] == 0:
                del keys[0]
            return relatives_from_keys(keys)
    limit = max_hops if max_hops is not None else 1 << 62
    keys = []
    append = keys.append
    for c, p, i, n, v, _f, _g in rows:
        if i is None:
            continue
        one = single(c)
        if one is not None:
            q = sign * p
            if q > one[0]:
                continue
            h = one[1] - q
        else:
            h = hops(c, p)
            if h is None:
                continue
        if 0 < h <= limit:  # hops 0: the start itself
            append((h, n, v, i))
    keys.sort()
    return relatives_from_keys(keys)


def nearest_from_chains(
    rows: Sequence[Sequence[Any]], max_hops: int | None = None
) -> Relative | None:
    """The nearest hit (ties by name, version, id) from :func:`nearest_chain_query` rows."""
    ch = _chain_walk(rows, "up", max_hops)
    if ch is None:
        return None
    best = None
    for c, p, i, n, v, _f, _g in rows:
        if i is None:
            continue
        h = ch.hops(c, p)
        if h is None or h <= 0 or (max_hops is not None and h > max_hops):
            continue
        key = (h, n, v, i)
        if best is None or key < best:
            best = key
    return None if best is None else relatives_from_keys([best])[0]
