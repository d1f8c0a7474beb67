from bookmarks_app import views
from django.urls import path

urlpatterns = [
    path("health/", views.health),
    path("api/bookmarks/", views.bookmarks),
    path("api/bookmarks/<int:pk>/share/", views.share),
    path("api/shared/<str:token>/", views.shared),
    path("api/bookmarks/<int:pk>/archive/", views.archive),
]
