from celery.result import AsyncResult
from flask import Blueprint, jsonify, request

from .tasks import summarize_numbers

bp = Blueprint("api", __name__)


@bp.get("/ping")
def ping():
    return "pong"


@bp.post("/api/summaries")
def start_summary():
    numbers = (request.get_json(silent=True) or {}).get("numbers")
    if not numbers or not all(isinstance(n, (int, float)) for n in numbers):
        return jsonify(error="numbers must be a non-empty list of numbers"), 400
    result = summarize_numbers.delay(numbers)
    return jsonify(task_id=result.id), 202


@bp.get("/api/summaries/<task_id>")
def summary_status(task_id):
    result = AsyncResult(task_id)
    if not result.ready():
        return jsonify(ready=False), 202
    return jsonify(ready=True, successful=result.successful(), summary=result.get())


@bp.delete("/api/summaries/<task_id>")
def forget_summary(task_id):
    AsyncResult(task_id).forget()
    return "", 204
