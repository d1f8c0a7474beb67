import json

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bookmarks_app.models import Bookmark

SHARE_SALT = "bookmarks.share"


@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def bookmarks(request):
    if request.method == "GET":
        page = Bookmark.objects.filter(archived=False)[: settings.PAGE_SIZE]
        return JsonResponse({"results": [b.as_dict() for b in page]})
    return create_bookmark(request)


def create_bookmark(request):
    data = json.loads(request.body or b"{}")
    try:
        URLValidator()(data.get("url", ""))
    except ValidationError:
        return JsonResponse({"error": "url: not a valid URL"}, status=400)
    bookmark = Bookmark.objects.create(url=data["url"], title=data.get("title") or data["url"])
    return JsonResponse(bookmark.as_dict(), status=201)


@csrf_exempt
@require_POST
def share(request, pk):
    bookmark = get_object_or_404(Bookmark, pk=pk)
    token = signing.dumps({"id": bookmark.id}, salt=SHARE_SALT)
    return JsonResponse({"token": token})


@require_GET
def shared(request, token):
    try:
        found = signing.loads(token, salt=SHARE_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature:
        return JsonResponse({"error": "invalid or expired link"}, status=404)
    bookmark = get_object_or_404(Bookmark, pk=found["id"])
    return JsonResponse(bookmark.as_dict())


@csrf_exempt
@require_POST
def archive(request, pk):
    # the weekly clean-up job archives old bookmarks; the web page never does
    bookmark = get_object_or_404(Bookmark, pk=pk)
    bookmark.archived = True
    bookmark.save(update_fields=["archived"])
    return JsonResponse(bookmark.as_dict())
