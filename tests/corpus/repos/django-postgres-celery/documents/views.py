import json

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .models import Document
from .tasks import count_document_words


@require_GET
def health(request):
    connection.ensure_connection()
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_POST
def create_document(request):
    try:
        payload = json.loads(request.body)
        title, body = payload["title"], payload["body"]
    except (ValueError, KeyError):
        return JsonResponse({"error": "title and body are required"}, status=400)
    document = Document.objects.create(title=title, body=body)
    count_document_words.delay(document.pk)
    return JsonResponse(document.as_dict(), status=201)


@require_GET
def document_detail(request, document_id):
    document = get_object_or_404(Document, pk=document_id)
    return JsonResponse(document.as_dict())


def export_csv(request):
    import csv

    from django.http import HttpResponse

    response = HttpResponse(content_type="text/csv")
    writer = csv.writer(response)
    writer.writerow(["id", "title", "status", "words"])
    for document in Document.objects.order_by("pk"):
        writer.writerow([document.pk, document.title, document.status, document.words])
    return response
