#!/bin/sh
# An entrypoint script that does not `exec` its server: the shell stays PID 1.
echo "preparing the service"
python3 /app/server.py
echo "the server ended"
