from app.stats import histogram, summarize


def test_summarize():
    assert summarize([3, 1, 2]) == {"count": 3, "mean": 2.0, "median": 2, "spread": 2}


def test_histogram_puts_the_maximum_in_the_last_bucket():
    assert histogram([0, 5, 10], buckets=2) == [1, 2]
