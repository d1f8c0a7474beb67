import logging

from celery import shared_task

from .models import Document
from .text import count_words

logger = logging.getLogger(__name__)


@shared_task
def count_document_words(document_id):
    document = Document.objects.get(pk=document_id)
    document.words = count_words(document.body)
    document.status = Document.DONE
    document.save(update_fields=["words", "status"])
    logger.info("document %s: %s words", document_id, document.words)
    return document.words


@shared_task
def purge_old_documents(days=30):
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Document.objects.filter(created__lt=cutoff).delete()
    logger.info("purged %s documents", deleted)
    return deleted
