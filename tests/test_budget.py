"""The recognition budget: at most `cores` analyses at once across cameras, the most urgent first, and a
camera that waits long enough goes before a fresher, more urgent one, so none starves. Real threads."""
import threading
import time

from recognition.live.budget import NEWCOMER, RECHECK, RecognitionBudget


def ask(budget, urgency, order, name, hold=0.0, since=None):
    def run():
        with budget.turn(urgency, since=since, timeout=10) as granted:
            assert granted
            order.append(name)
            time.sleep(hold)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def held(budget, seconds):
    """A turn held by the test's own thread for seconds, in the background."""
    release, started = threading.Event(), threading.Event()

    def run():
        with budget.turn(NEWCOMER):
            started.set()
            release.wait(seconds)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait(5)
    return thread


def waiting(budget, count):
    deadline = time.monotonic() + 5
    while budget.status()["waiting"] < count and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_newcomer_goes_before_a_recheck_that_asked_at_the_same_time():
    budget, order = RecognitionBudget(1, promote_after=1.0), []
    holder = held(budget, 0.3)
    recheck = ask(budget, RECHECK, order, "recheck")
    waiting(budget, 1)
    newcomer = ask(budget, NEWCOMER, order, "newcomer")
    for thread in (holder, recheck, newcomer):
        thread.join(5)
    assert order == ["newcomer", "recheck"]
    assert budget.status() == {"cores": 1, "running": 0, "waiting": 0, "turns": {"newcomer": 2, "recheck": 1}}


def test_a_camera_that_waited_long_goes_before_a_fresh_newcomer():
    budget, order = RecognitionBudget(1, promote_after=0.1), []
    holder = held(budget, 0.6)
    recheck = ask(budget, RECHECK, order, "recheck")  # waits 0.6 s: six levels of urgency
    time.sleep(0.55)
    newcomer = ask(budget, NEWCOMER, order, "newcomer")
    for thread in (holder, recheck, newcomer):
        thread.join(5)
    assert order == ["recheck", "newcomer"]


def test_a_wait_that_timed_out_keeps_its_place_when_it_asks_again():
    budget, order = RecognitionBudget(1, promote_after=0.1), []
    holder = held(budget, 0.6)
    first_asked = time.monotonic()
    with budget.turn(RECHECK, since=first_asked, timeout=0.1) as granted:
        assert not granted  # gave up; asks again below, as a worker does, with when it first asked
    newcomer = ask(budget, NEWCOMER, order, "newcomer")
    recheck = ask(budget, RECHECK, order, "recheck", since=first_asked)
    for thread in (holder, newcomer, recheck):
        thread.join(5)
    assert order == ["recheck", "newcomer"]


def test_never_more_analyses_at_once_than_cores():
    budget, running, most = RecognitionBudget(2), [0], [0]
    lock = threading.Lock()

    def camera():
        for _ in range(5):
            with budget.turn(NEWCOMER, timeout=10) as granted:
                assert granted
                with lock:
                    running[0] += 1
                    most[0] = max(most[0], running[0])
                time.sleep(0.01)
                with lock:
                    running[0] -= 1

    threads = [threading.Thread(target=camera) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most[0] == 2 and budget.status()["running"] == 0 and budget.status()["turns"] == {"newcomer": 25}


def test_a_camera_that_used_much_core_lately_waits_behind_one_that_used_little():
    """A crowd whose frames take long goes after a door whose newcomer takes a few milliseconds, though
    both have newcomers and the crowd asked first."""
    budget, order = RecognitionBudget(1, promote_after=0.25, memory=5.0), []
    with budget.turn(NEWCOMER, camera="crowd"):
        time.sleep(0.6)  # the crowd's last frame: 0.6 s of core, two levels and more
    holder = held(budget, 0.2)
    crowd = ask_as(budget, "crowd", order)
    waiting(budget, 1)
    time.sleep(0.05)
    door = ask_as(budget, "door", order)
    for thread in (holder, crowd, door):
        thread.join(5)
    assert order == ["door", "crowd"]


def ask_as(budget, camera, order):
    def run():
        with budget.turn(NEWCOMER, camera=camera, timeout=10) as granted:
            assert granted
            order.append(camera)

    thread = threading.Thread(target=run)
    thread.start()
    return thread
