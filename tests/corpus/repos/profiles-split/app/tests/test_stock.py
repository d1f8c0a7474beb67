"""Unit tests, run inside the image: `docker compose --profile test run --rm tests`."""

import pytest

from app.stock import NotEnoughStock, after_move, needs_reorder


def test_a_move_changes_the_quantity():
    assert after_move("A-1", 10, -3) == 7


def test_stock_never_goes_below_zero():
    with pytest.raises(NotEnoughStock, match="2 in stock, 3 requested"):
        after_move("A-1", 2, -3)


def test_reorder_at_the_threshold():
    assert needs_reorder(5) and not needs_reorder(6)
