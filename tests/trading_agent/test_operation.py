from __future__ import annotations

import pytest

from trading_agent.operation import Stream


def test_stream_hands_out_items_in_order_and_wraps_with_a_reset():
    wraps = []
    s = Stream(list(range(5)), on_wrap=lambda: wraps.append(1))
    assert [s.item() for _ in range(12)] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert s.passes == len(wraps) == 2 and s.consumed == 12 and len(s) == 5


def test_stream_chunks_skip_a_short_tail():
    s = Stream(list(range(7)), per_call=3)
    assert [list(s.take()) for _ in range(3)] == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]
    assert len(s) == 6 and s.consumed == 9 and s.passes == 1
    assert Stream([7, 8]).take() == (7,)
    with pytest.raises(ValueError, match="items per call"):
        Stream([1, 2], per_call=3)
