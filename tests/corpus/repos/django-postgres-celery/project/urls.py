from django.urls import include, path

from documents import views

urlpatterns = [
    path("health/", views.health),
    path("api/", include("documents.urls")),
]
