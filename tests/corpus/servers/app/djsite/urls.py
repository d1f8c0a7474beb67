from django.urls import path

from djsite import views

urlpatterns = [
    path("health", views.health),
    path("reached/<str:shape>", views.reached),
]
