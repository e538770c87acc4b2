"""How the PostgreSQL load finds order ids a file repeats, without a pass over the table."""

from __future__ import annotations

import numpy as np

from lab.ingest.loader_postgres import Keys


def keys(ids: list[int]) -> Keys:
    return Keys(np.array(ids, dtype=np.int64), np.arange(len(ids), dtype=np.int64) * 10)


def test_ascending_and_shuffled_unique_ids_repeat_nothing():
    assert keys([1, 2, 3, 7]).repeats.empty
    assert keys([7, 1, 3, 2]).repeats.empty
    assert keys([]).repeats.empty


def test_each_later_record_of_a_repeated_id_names_the_first():
    found = keys([5, 3, 5, 9, 3, 5]).repeats.sort_values("rec")
    assert found["rec"].tolist() == [20, 40, 50]
    assert found["first"].tolist() == [0, 10, 0]
    assert found["order_id"].tolist() == [5, 3, 5]
    assert set(found["kind"]) == {"duplicate"}


def test_records_of_ids_in_file_order():
    found = keys([4, 8, 4, 2]).records_of([4, 2])
    assert found.to_dict("list") == {"order_id": [4, 4, 2], "rec": [0, 20, 30]}
