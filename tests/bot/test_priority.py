"""Answering requests comes before decoding: the pause rules of ``bot/priority.py``.

A fake clock that only the fake sleep advances: no real waiting, nothing timed. The figures are
exact in binary (quarters of a second), so sums compare exactly.
"""

from __future__ import annotations

from bot.priority import Priority


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep: list = []  # callables run after each sleep (to end work mid-wait)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for action in self.on_sleep:
            action()


def priority(time: FakeTime, linger: float = 0.25, budget: float = 2.0) -> Priority:
    return Priority(linger=linger, pause_budget=budget, clock=time.clock, sleep=time.sleep)


def test_nothing_pressing_means_no_wait_at_all() -> None:
    time = FakeTime()
    urgent = priority(time)
    assert not urgent.pressing()
    budget = urgent.budget()
    for _ in range(30):  # a forward pass's checkpoints
        budget.checkpoint()
    assert time.sleeps == [] and urgent.pauses == 0 and budget.left == 2.0


def test_work_presses_while_it_runs_and_for_the_linger_after() -> None:
    time = FakeTime()
    urgent = priority(time)
    with urgent.work():
        assert urgent.pressing()
        time.now += 10  # however long it runs
        assert urgent.pressing()
    assert urgent.pressing()
    time.now += 0.125
    assert urgent.pressing()
    time.now += 0.125
    assert not urgent.pressing()


def test_a_touch_presses_for_the_linger() -> None:
    time = FakeTime()
    urgent = priority(time)
    urgent.touch()
    assert urgent.pressing()
    time.now += 0.25
    assert not urgent.pressing()


def test_a_checkpoint_waits_until_the_work_is_over_and_quiet() -> None:
    time = FakeTime()
    urgent = priority(time)
    work = urgent.work()
    work.__enter__()
    # The work ends during the third look; the pause lasts until the linger after it.
    time.on_sleep.append(lambda: len(time.sleeps) == 3 and work.__exit__(None, None, None))
    budget = urgent.budget()
    budget.checkpoint()
    # Three looks a linger apart, then one linger after the end.
    assert time.sleeps == [0.25, 0.25, 0.25, 0.25]
    assert not urgent.pressing()
    assert budget.left == 1.0
    assert urgent.pauses == 1 and urgent.paused_seconds == 1.0


def test_a_forward_pass_waits_its_budget_at_most() -> None:
    time = FakeTime()
    urgent = priority(time, budget=1.5)
    with urgent.work():  # never ends during the pass
        budget = urgent.budget()
        for _ in range(30):
            budget.checkpoint()
        assert sum(time.sleeps) == 1.5
        assert budget.left <= 0
        assert urgent.pauses == 1
        # The next pass has an allowance of its own: decoding slows down, never stops.
        urgent.budget().checkpoint()
        assert sum(time.sleeps) == 3.0
        assert urgent.pauses == 2
