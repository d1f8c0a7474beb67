from django.apps import AppConfig


class BookmarksConfig(AppConfig):
    name = "bookmarks_app"
    default_auto_field = "django.db.models.BigAutoField"
