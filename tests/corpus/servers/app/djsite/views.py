"""The views of both Django shapes: `runserver` (its autoreloader's child serves) and gunicorn."""

import os

from django.http import Http404, JsonResponse


def reached_django_runserver():
    kind = "runserver"
    pid = os.getpid()
    served = {"shape": "django_runserver", "kind": kind}
    served["pid"] = pid
    return served


def never_django_runserver():
    kind = "never"
    served = {"shape": "django_runserver", "kind": kind}
    served["pid"] = os.getpid()
    return served


def reached_django_gunicorn():
    kind = "gunicorn"
    pid = os.getpid()
    served = {"shape": "django_gunicorn", "kind": kind}
    served["pid"] = pid
    return served


def never_django_gunicorn():
    kind = "never"
    served = {"shape": "django_gunicorn", "kind": kind}
    served["pid"] = os.getpid()
    return served


REACHED = {"django_runserver": reached_django_runserver, "django_gunicorn": reached_django_gunicorn}


def health(request):
    return JsonResponse({"status": "ok"})


def reached(request, shape):
    if shape not in REACHED:
        raise Http404(shape)
    return JsonResponse(REACHED[shape]())
