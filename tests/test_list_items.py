"""List items as rows: exact duplicates dropped by normalised text, the same survivors and ids whatever
order and grouping the parts arrive in, text joined back in the kept order."""

from __future__ import annotations

import pyarrow as pa

from targen_ray.engine import list_items

ROWS = pa.table(
    {
        "id": ["b", "a", "c"],
        "seeds": [["Two", "one!"], ["One", "three"], ["  TWO  ", "four", None]],
        "context": ["cb", "ca", "cc"],
    }
)


def test_explode_numbers_items_within_their_list_even_for_a_slice():
    rows = list_items.explode(ROWS.slice(1, 2), "seeds")
    assert rows.column_names == ["parent", "position", "item", "context"]
    assert rows.to_pydict() == {
        "parent": ["a", "a", "c", "c", "c"],
        "position": [0, 1, 0, 1, 2],
        "item": ["One", "three", "  TWO  ", "four", None],
        "context": ["ca", "ca", "cc", "cc", "cc"],
    }


def test_unique_keeps_the_first_of_each_normalised_text_in_id_order():
    kept = list_items.unique([ROWS], "seeds", "seed", "job")
    # "a" sorts first: its "One" beats b's "one!"; b's "Two" beats c's "  TWO  ".
    assert list(zip(kept["parent"].to_pylist(), kept["position"].to_pylist(), strict=True)) == [
        ("a", 0),
        ("a", 1),
        ("b", 0),
        ("c", 1),
        ("c", 2),
    ]
    assert len(set(kept["item_id"].to_pylist())) == kept.num_rows


def test_unique_does_not_depend_on_how_the_rows_arrive():
    whole = list_items.unique([ROWS], "seeds", "seed", "job")
    shuffled = ROWS.take([2, 0, 1])
    assert list_items.unique([shuffled.slice(0, 1), shuffled.slice(1)], "seeds", "seed", "job").equals(whole)
    assert list_items.unique([], "seeds", "seed", "job").num_rows == 0


def test_attach_joins_the_text_back_in_kept_order_and_only_for_kept_items():
    kept = list_items.unique([ROWS], "seeds", "seed", "job")
    joined = list_items.attach(ROWS.take([2, 1]), "seeds", kept)  # only some parents in this block
    assert joined.column_names == ["item", "context", "item_id"]
    assert joined["item"].to_pylist() == ["One", "three", "four", None]
    assert joined["item_id"].to_pylist() == [
        i for p, i in zip(kept["parent"].to_pylist(), kept["item_id"].to_pylist(), strict=True) if p != "b"
    ]
