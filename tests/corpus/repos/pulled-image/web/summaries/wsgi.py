from flask import Flask, jsonify, request

from summaries.client import run_job

app = Flask(__name__)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/summaries")
def summarise():
    text = (request.get_json(silent=True) or {}).get("text", "")
    if not text.strip():
        return jsonify(error="text is required"), 400
    counts = run_job("word_count", {"text": text})
    words = run_job("keywords", {"text": text, "top": 3})
    return jsonify(counts | words)


@app.post("/reindex")
def reindex():
    # the search team's manual trigger
    return jsonify(run_job("reindex", {"index": request.args.get("index", "all")}))
