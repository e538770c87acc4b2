"""What an order id decides: its customer, amount, first status and the day it may change status.

An integer hash of the id and the seed (splitmix64, vectorised with numpy) draws each attribute, so
any day's order can be reproduced from its id alone, without generating that day again.
"""

from __future__ import annotations

import numpy as np

from lab.contract import CUSTOMER_IDS, STATUS_WEIGHTS, STATUSES

_STATUS_CUMULATIVE = np.cumsum(STATUS_WEIGHTS) / np.sum(STATUS_WEIGHTS)
_CUSTOMERS = np.asarray(CUSTOMER_IDS, dtype=np.int64)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array: every input bit moves every output bit."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _hash(ids: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A uint64 hash of each id, one independent stream per (seed, stream)."""
    key = _mix(np.array([(seed * 16 + stream) % 2**64], dtype=np.uint64))[0]
    x = ids.astype(np.uint64)
    x *= _GOLDEN
    x += key
    return _mix(x)


def _uniform(ids: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A float in (0, 1) per id."""
    return ((_hash(ids, seed, stream) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def order_attributes(ids: np.ndarray, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer id, amount in cents and first status index (into STATUSES) of each order id.

    Pure functions of the id and the seed: an update of an earlier order reproduces them exactly.
    Amounts follow 1 + gamma(shape 2, scale 30) (a sum of two exponentials), in whole cents.
    """
    ids = np.asarray(ids, dtype=np.int64)
    h = _hash(ids, seed, 1)  # high 32 bits: the customer; low 32 bits: the status
    customers = _CUSTOMERS[(h >> np.uint64(32)) % np.uint64(len(_CUSTOMERS))]
    u = ((h & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32
    status = np.searchsorted(_STATUS_CUMULATIVE, u, side="right")
    amount = 1.0 - 30.0 * np.log(_uniform(ids, seed, 2) * _uniform(ids, seed, 3))
    cents = np.rint(amount * 100.0).astype(np.int64)
    return customers, cents, np.minimum(status, len(STATUSES) - 1)


def update_lag(ids: np.ndarray, seed: int, longest: int) -> np.ndarray:
    """The one day, 1 to `longest` days after it was placed, on which each order may change status.

    A pure function of the id and the seed, so no two days' exports ever update the same order:
    every update moves an order on from its first status, and a later delivery never contradicts
    an earlier one.
    """
    ids = np.asarray(ids, dtype=np.int64)
    high = _hash(ids, seed, 4) >> np.uint64(32)  # uniform in [0, 2**32): scale, no division
    return ((high * np.uint64(longest)) >> np.uint64(32)).astype(np.int64) + 1
