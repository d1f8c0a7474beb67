from django.db import models


class Document(models.Model):
    PENDING = "pending"
    DONE = "done"
    STATUS_CHOICES = [(PENDING, "pending"), (DONE, "done")]

    title = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING)
    words = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.title

    def as_dict(self):
        return {
            "id": self.pk,
            "title": self.title,
            "status": self.status,
            "words": self.words,
        }
