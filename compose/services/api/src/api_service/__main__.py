import os

from api_service.app import serve

serve(port=int(os.environ.get("PORT", "8000")))
