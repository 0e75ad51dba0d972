"""JobNews against a real redis-server: what a listener hears, and when it may trust it."""

from __future__ import annotations

import threading
import time

import pytest

from jobs.job_news import JobNews
from testing import free_port
from tests.helpers import until


def seconds_of(wait) -> float:
    started = time.monotonic()
    wait()
    return time.monotonic() - started


@pytest.fixture
def news_of():
    """JobNews made by a test, closed after it: their threads would go on subscribing."""
    made: list[JobNews] = []

    def make(redis_url: str, channel: str) -> JobNews:
        made.append(JobNews(redis_url, channel))
        return made[-1]

    yield make
    for news in made:
        news.close()


def test_a_listener_hears_its_job_even_when_told_before_it_waits(redis_server, news_of):
    news = news_of(redis_server.url, "shop:jobs-changed")
    with news.listening("job-1") as listener, news.listening("job-2") as other:
        until(lambda: listener.reliable, seconds=5, every=0.01)
        redis_server.client().publish("shop:jobs-changed", "job-1")
        time.sleep(0.1)  # told while nobody waits
        assert seconds_of(lambda: listener.wait(5)) < 1
        assert seconds_of(lambda: listener.wait(0.2)) >= 0.2  # heard once, not for ever
        assert seconds_of(lambda: other.wait(0.2)) >= 0.2  # another job's news is not its own
    assert not news._listeners  # nothing is kept for a block that ended


def test_a_listener_is_not_trusted_while_the_subscription_is_down(redis_server, news_of):
    news = news_of(f"redis://127.0.0.1:{free_port()}/0", "jobs-changed")  # nobody listens there
    with news.listening("job-1") as listener:
        time.sleep(0.2)
        assert not listener.reliable
        assert seconds_of(lambda: listener.wait(0.1)) >= 0.1
    news = news_of(redis_server.url, "jobs-changed")
    with news.listening("job-1") as listener:
        until(lambda: listener.reliable, seconds=5, every=0.01)
        redis_server.stop()
        until(lambda: not listener.reliable, seconds=5, every=0.01)


def test_closed_news_stops_trying_to_subscribe(news_of):
    news = news_of(f"redis://127.0.0.1:{free_port()}/0", "jobs-changed")
    with news.listening("job-1"):
        time.sleep(0.1)
    news.close()
    until(lambda: not any(thread.name == "job-news" for thread in threading.enumerate()),
          seconds=3)
