"""The users service, as orders sees it."""

import os

import httpx

USERS_URL = os.environ.get("USERS_URL", "http://localhost:8000")


async def user_exists(user_id: int) -> bool:
    async with httpx.AsyncClient(base_url=USERS_URL, timeout=5) as client:
        response = await client.get(f"/users/{user_id}")
    if response.status_code == 404:
        return False
    response.raise_for_status()
    return True
