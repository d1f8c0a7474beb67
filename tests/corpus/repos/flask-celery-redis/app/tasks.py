import logging

from celery import shared_task

from .stats import histogram, summarize

logger = logging.getLogger(__name__)


@shared_task(ignore_result=False)
def summarize_numbers(numbers):
    summary = summarize(numbers)
    logger.info("summarized %d numbers", summary["count"])
    return summary


@shared_task(ignore_result=False)
def histogram_numbers(numbers, buckets=10):
    counts = histogram(numbers, buckets)
    logger.info("histogram of %d numbers", len(numbers))
    return counts
