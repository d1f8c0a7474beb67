import os

from auth_service.app import serve

serve(port=int(os.environ.get("PORT", "8000")))
