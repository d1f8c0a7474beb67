from django.urls import path

from . import views

urlpatterns = [
    path("documents/", views.create_document),
    path("documents/<int:document_id>/", views.document_detail),
]
