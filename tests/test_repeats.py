"""
L{chatroom.repeats.Repeats}: what was seen within the window, on a fake
clock; bounded however many keys come.
"""

from twisted.internet.testing import MemoryReactorClock

from chatroom.repeats import Repeats


def test_a_key_is_a_repeat_within_the_window_only():
    clock = MemoryReactorClock()
    repeats = Repeats(clock, window=2.0)
    assert not repeats.seen(("张三", "bob"))
    clock.advance(1.9)
    assert repeats.seen(("张三", "bob"))
    assert not repeats.seen(("张三", "李四"))
    clock.advance(0.2)
    # Marked at 0 (a repeat is not marked again): the window is over.
    assert not repeats.seen(("张三", "bob"))
    assert repeats.recent(("张三", "bob"))


def test_stale_keys_go_and_the_newest_stay_up_to_the_cap():
    clock = MemoryReactorClock()
    repeats = Repeats(clock, window=2.0, most=100)
    for i in range(80):
        repeats.mark(i)
    clock.advance(3)
    repeats.mark("new")
    assert len(repeats._last) == 1
    for i in range(250):
        repeats.mark(i)
    assert len(repeats._last) == 100
    # The newest are kept, the oldest dropped.
    assert repeats.recent(249) and not repeats.recent(0)
