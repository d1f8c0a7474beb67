"""The smallest Django project that serves: no database, no apps, no middleware."""

SECRET_KEY = "corpus-servers-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djsite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
TIME_ZONE = "UTC"  # Django sets the process TZ from it (its default is America/Chicago)
WSGI_APPLICATION = "djsite.wsgi.application"
