from django.db import models


class Bookmark(models.Model):
    url = models.URLField(max_length=500)
    title = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created", "-id"]  # noqa: RUF012 - Django's Meta idiom

    def as_dict(self) -> dict:
        return {"id": self.id, "url": self.url, "title": self.title, "archived": self.archived}
