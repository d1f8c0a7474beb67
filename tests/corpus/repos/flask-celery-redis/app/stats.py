import statistics


def summarize(numbers):
    """Count, mean, median and spread of a non-empty list of numbers."""
    ordered = sorted(numbers)
    return {
        "count": len(ordered),
        "mean": statistics.fmean(ordered),
        "median": statistics.median(ordered),
        "spread": ordered[-1] - ordered[0],
    }


def histogram(numbers, buckets=10):
    low, high = min(numbers), max(numbers)
    width = (high - low) / buckets or 1
    counts = [0] * buckets
    for n in numbers:
        counts[min(int((n - low) / width), buckets - 1)] += 1
    return counts
